"""Design recipes: the constants of each network design, kept as TOML data.

A recipe is a flat-per-section TOML file in ``models/designs/``. Every key is
checked against the schema below, so a typo is an error rather than a silently
ignored constant. Overrides (``--set plasticity.rho=3``) go through the same
checks.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .designs import DESIGNS

RULES = ("pairwise", "sl-stdp", "fspinn")
SCHEMES = ("layer", "lateral")
# exc -> inh -> exc in steps; 2 (Diehl & Cook as first stepped here) is what a recipe without the key means,
# so run folders trained before the key existed evaluate as they trained.
LAYER_LOOP_STEPS = (1, 2)
LEGACY_LAYER_LOOP_STEPS = 2


class RecipeError(ValueError):
    """A recipe or override is malformed; the message is one line."""

    def __init__(self, message: str) -> None:
        # Quoted TOML keys and paths may hold line breaks; escaping them keeps the one-line promise.
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


# section -> key -> (type, required?)
_F, _I, _S = float, int, str
_SCHEMA: dict[str, dict[str, tuple[type, bool]]] = {
    "input": {
        "f_max_hz": (_F, True), "presentation_steps": (_I, True), "dt_ms": (_F, True),
        "min_spikes": (_I, True), "max_representations": (_I, True), "rate_boost_hz": (_F, True),
    },
    "excitatory": {
        "v_rest_mv": (_F, True), "v_reset_mv": (_F, True), "v_th_mv": (_F, True),
        "refractory_ms": (_F, True), "tau_m_ms": (_F, True), "e_exc_mv": (_F, True),
        "e_inh_mv": (_F, True), "tau_ge_ms": (_F, True), "tau_gi_ms": (_F, True),
        "theta_plus_mv": (_F, True), "tau_theta_ms": (_F, True), "tau_theta_at_neurons": (_I, False),
        "tau_theta_max_neurons": (_I, False), "theta_plus_end_mv": (_F, False),
        "theta_plus_anneal_from_images": (_I, False), "theta_plus_anneal_images": (_I, False),
        "theta_plus_from_neurons": (_I, False), "theta_plus_exponent": (_F, False),
    },
    "inhibitory": {
        "v_rest_mv": (_F, True), "v_reset_mv": (_F, True), "v_th_mv": (_F, True),
        "refractory_ms": (_F, True), "tau_m_ms": (_F, True), "e_exc_mv": (_F, True),
        "tau_ge_ms": (_F, True),
    },
    "inhibition": {
        "scheme": (_S, True), "w_ei": (_F, False), "w_ie": (_F, False),
        "excitatory_strength": (_F, False), "rho": (_F, False), "w_lat": (_F, False),
        "rho_start": (_F, False), "rho_ramp_images": (_I, False), "rho_ramp_max_neurons": (_I, False),
        "layer_loop_steps": (_I, False),
    },
    "plasticity": {
        "rule": (_S, True), "eta_pre": (_F, False), "eta_post": (_F, True), "mu": (_F, True),
        "w_max": (_F, True), "tau_pre_ms": (_F, True), "tau_post_ms": (_F, False),
        "x_tar": (_F, False), "post_every": (_I, False), "window_steps": (_I, False),
        "s_th": (_F, False), "k_max": (_F, False), "winners_per_window": (_I, False),
    },
    "weights": {"init_max": (_F, True), "norm_total": (_F, True)},
}
_TOP = {"schema_version", "design", "description", "citation"}
_RULE_NEEDS = {
    "pairwise": ("eta_pre", "tau_post_ms"),
    "sl-stdp": ("x_tar", "post_every"),
    "fspinn": ("window_steps", "s_th", "k_max"),
}
# Values that may be zero (everything else numeric must be > 0 unless it is a potential).
_MAY_BE_ZERO = {"eta_pre", "eta_post", "theta_plus_mv", "x_tar", "rate_boost_hz", "max_representations",
                "min_spikes", "refractory_ms", "w_ie", "w_ei", "rho", "w_lat", "e_exc_mv",
                "tau_theta_at_neurons", "tau_theta_max_neurons", "theta_plus_end_mv", "theta_plus_anneal_images",
                "theta_plus_anneal_from_images", "theta_plus_from_neurons", "rho_start", "rho_ramp_images", "rho_ramp_max_neurons"}
_SIGNED = {"v_rest_mv", "v_reset_mv", "v_th_mv", "e_exc_mv", "e_inh_mv"}
# Far beyond any physical constant here (ms, mV, Hz, weights) on both sides; keeps
# the engines' float32 constants and ratios such as tau / dt finite.
MAX_MAGNITUDE = 1e9
MIN_POSITIVE = 1e-9
# The engines keep a 784 x presentation_steps spike buffer per image (12 bytes an
# entry), so longer presentations exhaust memory; 10,000 is 10 s at dt = 1 ms.
MAX_PRESENTATION_STEPS = 10_000


@dataclass(frozen=True)
class Recipe:
    """A validated design recipe (read-only nested mapping) and where it came from."""

    design: str
    description: str
    citation: str
    sections: Mapping[str, Mapping[str, Any]]
    source: str

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.sections.get(section, {}).get(key, default)

    @property
    def rule(self) -> str:
        return self.sections["plasticity"]["rule"]

    @property
    def scheme(self) -> str:
        return self.sections["inhibition"]["scheme"]

    @property
    def layer_loop_steps(self) -> int:
        """Steps from an excitatory spike to the inhibition it causes through the inhibitory layer."""
        return int(self.sections["inhibition"].get("layer_loop_steps", LEGACY_LAYER_LOOP_STEPS))

    @property
    def rho_ramp_images(self) -> int:
        """Training images over which a lateral design's inhibition ramps from rho_start to rho (0: fixed)."""
        return int(self.sections["inhibition"].get("rho_ramp_images", 0))

    def ramps_at(self, n_neurons: int) -> bool:
        """Does the lateral inhibition ramp in a network of n_neurons? (ramp_acts)"""
        return ramp_acts(self.rho_ramp_images, int(self.sections["inhibition"].get("rho_ramp_max_neurons", 0)),
                         n_neurons)

    def lateral_strength_at(self, n_neurons: int) -> float:
        """w_lat at inference in a network of n_neurons: the ramp's end where it acts, else its start."""
        return self.lateral_strength if self.ramps_at(n_neurons) else self.lateral_strength_start

    @property
    def largest_inhibition_strength(self) -> float:
        """The largest inhibition constant the recipe can use, at any size: what a fixed-point `inh`
        format must hold (both ends of a lateral ramp; w_ie and w_ei of a layer design)."""
        if self.scheme == "lateral":
            return max(self.lateral_strength, self.lateral_strength_start)
        return max(float(self.get("inhibition", "w_ie")), float(self.get("inhibition", "w_ei")))

    @property
    def lateral_strength(self) -> float:
        """w_lat of a lateral design at inference (and, with a ramp, from image rho_ramp_images on in
        training): explicit, or rho x the excitatory strength."""
        inh = self.sections["inhibition"]
        if "w_lat" in inh:
            return float(inh["w_lat"])
        return float(inh["rho"]) * float(inh["excitatory_strength"])

    @property
    def lateral_strength_start(self) -> float:
        """w_lat of a lateral design at the first training image: with a ramp (ours), rho_start x the
        excitatory strength; else the fixed strength."""
        if self.rho_ramp_images > 0:
            inh = self.sections["inhibition"]
            return float(inh["rho_start"]) * float(inh["excitatory_strength"])
        return self.lateral_strength

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": 1, "design": self.design,
                               "description": self.description, "citation": self.citation}
        for name, sec in self.sections.items():
            out[name] = dict(sec)
        return out

    def acting_at(self, n_neurons: int) -> dict[str, Any]:
        """``to_dict`` without the keys that change nothing in a network of n_neurons: the identity of
        what that network computes (cache and grid keys), so a new key does not orphan runs it leaves alone.

        tau_theta_max_neurons only shortens theta's decay above that size (constants.theta_decay), and 0
        means never; at or below it every engine constant is the same as without the key. The threshold
        step's annealing keys act only when theta_plus_anneal_images > 0, its growth with N only above
        theta_plus_from_neurons (constants.theta_plus_scale). winners_per_window acts only in
        the fspinn rule, and 1 is what the rule does without the key (the paper's single winner).
        rho_start acts only when rho_ramp_images > 0, and above rho_ramp_max_neurons it is the fixed rho.
        """
        out = self.to_dict()
        ex = out.get("excitatory", {})
        cap = ex.get("tau_theta_max_neurons")
        if cap is not None and (cap == 0 or n_neurons <= cap):
            del ex["tau_theta_max_neurons"]
        grows_from = ex.get("theta_plus_from_neurons", 0)
        if grows_from == 0 or n_neurons <= grows_from:
            ex.pop("theta_plus_from_neurons", None)
            ex.pop("theta_plus_exponent", None)
        if ex.get("theta_plus_anneal_images", 0) == 0:  # no annealing: the end step is never used
            ex.pop("theta_plus_anneal_images", None)
            ex.pop("theta_plus_end_mv", None)
            ex.pop("theta_plus_anneal_from_images", None)
        inh = out.get("inhibition", {})
        if not self.ramps_at(n_neurons):  # no ramp, or above its cap: a fixed rho_start is what acts
            if inh.get("rho_ramp_images", 0) > 0:
                inh["rho"] = inh["rho_start"]
            for key in ("rho_ramp_images", "rho_start"):
                inh.pop(key, None)
        inh.pop("rho_ramp_max_neurons", None)  # where the ramp acts, the cap changes nothing
        pl = out.get("plasticity", {})
        if pl.get("rule") != "fspinn" or pl.get("winners_per_window") == 1:
            pl.pop("winners_per_window", None)
        return out


def ramp_acts(ramp_images: int, max_neurons: int, n_neurons: int) -> bool:
    """Does a lateral inhibition ramp over ramp_images act in a network of n_neurons? Only up to
    max_neurons (0: every size); larger networks keep rho_start, in training and at inference (ours)."""
    return ramp_images > 0 and (max_neurons == 0 or n_neurons <= max_neurons)


def recipe_path(design: str) -> Path:
    if design not in DESIGNS:
        raise RecipeError(f"unknown design '{design}': choose one of {', '.join(DESIGNS)}")
    return Path(str(resources.files("dse.models") / "designs" / f"{design}.toml"))


def load_recipe(design_or_path: str, overrides: Mapping[str, str] | None = None) -> Recipe:
    """Load a bundled design by name, or a recipe file by path, then apply overrides."""
    path = Path(design_or_path)
    if design_or_path in DESIGNS:
        path = recipe_path(design_or_path)
    elif path.suffix != ".toml":
        raise RecipeError(f"unknown design '{design_or_path}': choose one of {', '.join(DESIGNS)} or give a recipe .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, ValueError) as exc:  # a folder, no permission, a NUL byte in the path
        raise RecipeError(f"{path}: cannot read the recipe file ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML ({exc})") from None
    for dotted, text in (overrides or {}).items():
        _apply_override(raw, dotted, text, path)
    return _validate(raw, str(path))


def recipe_from_dict(raw: Mapping[str, Any], where: str) -> Recipe:
    """A recipe as a run's manifest stores it (``Recipe.to_dict``), checked like a file."""
    if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for k, v in raw.items() if k not in _TOP):
        raise RecipeError(f"{where}: a recipe must be a table of sections")
    return _validate({k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}, where)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Turn ``["plasticity.rho=3", ...]`` into a mapping, rejecting malformed items."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key or not value.strip():
            raise RecipeError(f"bad --set '{item}': write SECTION.KEY=VALUE, e.g. inhibition.rho=3")
        out[key.strip()] = value.strip()
    return out


def _apply_override(raw: dict[str, Any], dotted: str, text: str, path: Path) -> None:
    section, _, key = dotted.partition(".")
    if section not in _SCHEMA or key not in _SCHEMA[section]:
        if section not in _SCHEMA:
            raise RecipeError(f"--set {dotted}: unknown recipe section '{section}' (choose one of {', '.join(_SCHEMA)})")
        raise RecipeError(f"--set {dotted}: unknown key '{key}' in [{section}] (allowed: {', '.join(_SCHEMA[section])})")
    typ = _SCHEMA[section][key][0]
    try:
        value: Any = typ(text)
    except ValueError:
        what = "an int" if typ is int else "a float"
        raise RecipeError(f"--set {dotted}={text}: expected {what}") from None
    # Checked here, so that a bad value names the flag that gave it rather than the recipe file.
    value = _check_value(f"--set {dotted}={text}", section, key, value, typ)
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        raise RecipeError(f"{path}: [{section}] must be a table")
    table[key] = value


def _validate(raw: dict[str, Any], where: str) -> Recipe:
    unknown = set(raw) - _TOP - set(_SCHEMA)
    if unknown:
        raise RecipeError(f"{where}: unknown top-level key '{sorted(unknown)[0]}'")
    if type(raw.get("schema_version")) is not int or raw["schema_version"] != 1:
        raise RecipeError(f"{where}: schema_version must be 1")
    design = raw.get("design")
    if not isinstance(design, str):
        raise RecipeError(f"{where}: missing 'design' name")
    sections: dict[str, Mapping[str, Any]] = {}
    for name, spec in _SCHEMA.items():
        if name not in raw:
            continue
        sec = raw[name]
        if not isinstance(sec, dict):
            raise RecipeError(f"{where}: [{name}] must be a table")
        clean: dict[str, Any] = {}
        for key, value in sec.items():
            if key not in spec:
                raise RecipeError(f"{where}: unknown key '{name}.{key}' (allowed: {', '.join(spec)})")
            clean[key] = _check_value(where, name, key, value, spec[key][0])
        for key, (_, required) in spec.items():
            if required and key not in clean:
                raise RecipeError(f"{where}: missing key '{name}.{key}'")
        sections[name] = MappingProxyType(clean)
    for name in ("input", "excitatory", "inhibition", "plasticity", "weights"):
        if name not in sections:
            raise RecipeError(f"{where}: missing section [{name}]")
    recipe = Recipe(design=design, description=str(raw.get("description", "")),
                    citation=str(raw.get("citation", "")), sections=MappingProxyType(sections),
                    source=where)
    _check_consistency(recipe, where)
    return recipe


def _check_value(where: str, section: str, key: str, value: Any, typ: type) -> Any:
    if typ is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where}: '{section}.{key}' must be a string")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecipeError(f"{where}: '{section}.{key}' must be a number, got {_short(value)}")
    # Checked before any conversion: float() of a huge TOML integer overflows.
    if not (isinstance(value, int) or math.isfinite(value)) or abs(value) > MAX_MAGNITUDE:
        raise RecipeError(f"{where}: '{section}.{key}' must be finite and within +-{MAX_MAGNITUDE:g}, "
                          f"got {_short(value)}")
    if typ is int and (not float(value).is_integer()):
        raise RecipeError(f"{where}: '{section}.{key}' must be an integer, got {value!r}")
    value = int(value) if typ is int else float(value)
    if key not in _SIGNED:
        if value < 0 or (value == 0 and key not in _MAY_BE_ZERO):
            raise RecipeError(f"{where}: '{section}.{key}' must be {'>= 0' if key in _MAY_BE_ZERO else '> 0'}, got {value}")
        if 0 < value < MIN_POSITIVE:
            raise RecipeError(f"{where}: '{section}.{key}' must be {'0 or ' if key in _MAY_BE_ZERO else ''}"
                              f">= {MIN_POSITIVE:g}, got {value}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_consistency(r: Recipe, where: str) -> None:
    if r.rule not in RULES:
        raise RecipeError(f"{where}: plasticity.rule '{r.rule}' unknown: choose one of {', '.join(RULES)}")
    if r.scheme not in SCHEMES:
        raise RecipeError(f"{where}: inhibition.scheme '{r.scheme}' unknown: choose one of {', '.join(SCHEMES)}")
    for key in _RULE_NEEDS[r.rule]:
        if r.get("plasticity", key) is None:
            raise RecipeError(f"{where}: rule '{r.rule}' needs plasticity.{key}")
    if r.scheme == "layer":
        if "inhibitory" not in r.sections:
            raise RecipeError(f"{where}: scheme 'layer' needs an [inhibitory] section")
        for key in ("w_ei", "w_ie"):
            if r.get("inhibition", key) is None:
                raise RecipeError(f"{where}: scheme 'layer' needs inhibition.{key}")
        if r.rho_ramp_images > 0:
            raise RecipeError(f"{where}: inhibition.rho_ramp_images acts in scheme 'lateral' only (a layer design's "
                              "inhibition is inhibition.w_ie); remove it or set it to 0")
        if r.layer_loop_steps not in LAYER_LOOP_STEPS:
            raise RecipeError(f"{where}: inhibition.layer_loop_steps is {r.layer_loop_steps}: choose 1 (the "
                              f"inhibitory layer answers in the same step) or 2 (in the next step)")
    else:  # w_ei, w_ie and layer_loop_steps are read by the layer scheme only (a lateral design inhibits at once)
        has_ratio = r.get("inhibition", "rho") is not None and r.get("inhibition", "excitatory_strength") is not None
        if r.get("inhibition", "w_lat") is None and not has_ratio:
            raise RecipeError(f"{where}: scheme 'lateral' needs inhibition.w_lat or rho and excitatory_strength")
        if r.rho_ramp_images > 0 and (r.get("inhibition", "w_lat") is not None or not has_ratio
                                      or r.get("inhibition", "rho_start") is None):
            raise RecipeError(f"{where}: inhibition.rho_ramp_images needs inhibition.rho_start, rho and "
                              "excitatory_strength (the strength ramps from rho_start to rho x excitatory_strength) "
                              "and no w_lat")
    e = r.sections["excitatory"]
    if e.get("theta_plus_anneal_images", 0) > 0 and e.get("theta_plus_end_mv") is None:
        raise RecipeError(f"{where}: excitatory.theta_plus_anneal_images needs excitatory.theta_plus_end_mv (the "
                          "threshold step after that many training images)")
    if 0 < e.get("theta_plus_anneal_images", 0) <= e.get("theta_plus_anneal_from_images", 0):
        raise RecipeError(f"{where}: excitatory.theta_plus_anneal_from_images must be below "
                          "excitatory.theta_plus_anneal_images (the step anneals between the two)")
    if e.get("theta_plus_from_neurons", 0) > 0 and e.get("theta_plus_exponent") is None:
        raise RecipeError(f"{where}: excitatory.theta_plus_from_neurons needs excitatory.theta_plus_exponent (the "
                          "step grows as (N / theta_plus_from_neurons) ** theta_plus_exponent above that size)")
    if e.get("theta_plus_exponent", 0.0) > 2.0:
        raise RecipeError(f"{where}: excitatory.theta_plus_exponent is {e['theta_plus_exponent']}: use at most 2 "
                          "(1 already makes the step grow as fast as N)")
    if not e["e_inh_mv"] < e["v_reset_mv"] <= e["v_th_mv"] < e["e_exc_mv"] + 1e-9 or e["v_rest_mv"] >= e["v_th_mv"]:
        raise RecipeError(f"{where}: excitatory potentials must satisfy e_inh < v_reset <= v_th < e_exc and v_rest < v_th")
    steps, dt = r.get("input", "presentation_steps"), r.get("input", "dt_ms")
    if steps > MAX_PRESENTATION_STEPS:
        raise RecipeError(f"{where}: input.presentation_steps must be <= {MAX_PRESENTATION_STEPS}, got {steps}")
    for name in ("excitatory", "inhibitory"):
        if name not in r.sections:
            continue
        # The membrane update is a forward-Euler step: past dt = tau_m it overshoots the
        # resting potential, past 2 tau_m it diverges.
        tau_m = r.get(name, "tau_m_ms")
        if dt > tau_m:
            raise RecipeError(f"{where}: input.dt_ms ({dt:g}) must be <= {name}.tau_m_ms ({tau_m:g})")
        # Counted in whole steps by the engines; longer than a presentation is surely a unit mistake.
        if r.get(name, "refractory_ms") > steps * dt:
            raise RecipeError(f"{where}: {name}.refractory_ms must be <= one presentation "
                              f"(input.presentation_steps x input.dt_ms = {steps * dt:g} ms)")
    if r.rule == "fspinn" and r.get("plasticity", "window_steps") > steps:
        raise RecipeError(f"{where}: plasticity.window_steps must be <= input.presentation_steps ({steps})")
    if r.rule == "sl-stdp" and not 1 <= r.get("plasticity", "post_every") <= 3:
        raise RecipeError(f"{where}: plasticity.post_every must be 1..3 (a 2-bit counter)")
