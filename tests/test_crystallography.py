"""Burgers-vector families and segment classes named as crystallographers write them (BCC and FCC)."""
import itertools

import numpy as np
import pytest

from ddml_engine.crystallography import family_names, infer_lattice, segment_class_names


def cube_images(v):
    """All 48 images of v under the cube group (permutations and sign changes)."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((-1, 1), repeat=3):
            out.append(np.array(signs) * np.asarray(v, float)[list(perm)])
    return np.array(out)


@pytest.mark.parametrize("lattice, vector_a, name", [
    ("bcc", [0.5, 0.5, 0.5], "1/2<111>"), ("bcc", [1, 0, 0], "<100>"), ("bcc", [1, 1, 0], "<110>"),
    ("fcc", [0.5, 0.5, 0], "1/2<110>"), ("fcc", [1, 0, 0], "<100>"), ("fcc", [1 / 6, 1 / 6, 2 / 6], "1/6<112>"),
    ("fcc", [1 / 3, 1 / 3, 1 / 3], "1/3<111>"), ("fcc", [1 / 6, 1 / 6, 0], "1/6<110>"),
])
def test_families_are_cube_invariant_and_named_in_lattice_units(lattice, vector_a, name):
    b_over_a = {"bcc": np.sqrt(3) / 2, "fcc": 1 / np.sqrt(2)}[lattice]
    burgers_b = cube_images(vector_a) / b_over_a  # the network stores b in units of |perfect b|
    assert set(family_names(burgers_b, lattice)) == {name}


def test_irrational_vectors_have_no_family():
    assert family_names(np.array([[0.3, 0.1, 0.77]]), "bcc")[0] == ""


def test_fcc_classes_tell_glissile_from_lomer_by_the_plane():
    b = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0]]) / np.sqrt(2)  # 1/2[110], |b| = 1
    planes = np.array([[1, -1, 1], [0, 0, 1], [0, 0, 0]], float)
    assert list(segment_class_names(b, planes, "fcc")) == ["glissile 1/2<110> on {111}", "Lomer 1/2<110> (sessile)",
                                                           "1/2<110> (plane unknown)"]
    hirth = np.array([[np.sqrt(2), 0, 0]])
    assert segment_class_names(hirth, np.array([[0, 0, 1.0]]), "fcc")[0] == "Hirth lock <100>"


def test_bcc_classes_and_lattice_inference():
    s3 = np.sqrt(3)
    bcc = np.array([[1, 1, 1], [1, -1, 1], [2, 0, 0]]) / s3
    assert list(segment_class_names(bcc, np.zeros((3, 3)), "bcc")) == ["glissile 1/2<111>", "glissile 1/2<111>",
                                                                       "junction <100>"]
    assert infer_lattice(bcc) == "bcc"
    assert infer_lattice(np.array([[1, 1, 0], [0, 1, -1]]) / np.sqrt(2)) == "fcc"
    assert infer_lattice(np.zeros((0, 3))) is None
