"""Make the generated `tensorrt-stubs` parse, so mypy can check the TensorRT backend against them.

`make typecheck` installs the stubs with `pip install --no-deps tensorrt-stubs==<pinned>` (their
dependency, the tensorrt wheel, comes from NVIDIA's index and is not needed to type-check), then
runs this script. The stubs are generated from the pybind11 module and carry two mechanical
defects that are syntax errors in Python:

* parameters named after keywords (`in`, `out`): renamed to `in_` / `out_`;
* parameters without a default after ones with a default: given `= ...`.

The stub folders (`tensorrt/`, `tensorrt_bindings/`) also lack the PEP 561 `py.typed` marker
without which mypy skips them and treats every TensorRT name as Any; the script adds it.
Nothing else is changed. The script is idempotent, checks that every patched file parses,
and exits non-zero (saying why) when the stubs are missing or still broken.

    python scripts/patch_tensorrt_stubs.py            # patch the installed stubs
    python scripts/patch_tensorrt_stubs.py --check    # only report whether they parse
"""

from __future__ import annotations

import argparse
import ast
import keyword
import sys
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "tensorrt-stubs"


def split_top_level(text: str) -> list[str]:
    """Split a parameter list on commas that are not inside brackets or string literals."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if current:
        parts.append("".join(current))
    return parts


def _fix_parameter(param: str, after_default: bool) -> tuple[str, bool]:
    """One parameter: rename a keyword name, add `= ...` when a default came before.

    Returns the new text and whether later parameters follow a default.
    """
    stripped = param.strip()
    if not stripped or stripped == "/":
        return param, after_default
    if stripped.startswith("*"):
        # `*`, *args and **kwargs end the positional run: later parameters may lack defaults.
        return param, False
    lead = param[: len(param) - len(param.lstrip())]
    name = stripped.split(":")[0].split("=")[0].strip()
    if keyword.iskeyword(name):
        stripped = name + "_" + stripped[len(name) :]
    has_default = "=" in _outside_brackets(stripped)
    if after_default and not has_default:
        stripped += " = ..."
        has_default = True
    return lead + stripped, has_default


def _outside_brackets(text: str) -> str:
    """The characters of ``text`` at bracket depth 0 (defaults live there, not inside Callable[...])."""
    depth = 0
    kept = []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def _parameter_span(line: str) -> tuple[int, int] | None:
    """(start, end) of the text between a one-line def's outer parentheses."""
    start = line.find("(")
    if start < 0:
        return None
    depth = 0
    for pos in range(start, len(line)):
        if line[pos] == "(":
            depth += 1
        elif line[pos] == ")":
            depth -= 1
            if depth == 0:
                return start + 1, pos
    return None


def fix_def_line(line: str) -> str:
    """Apply both fixes to one `def` line of a stub; other lines come back unchanged."""
    if not line.lstrip().startswith("def "):
        return line
    span = _parameter_span(line)
    if span is None:
        return line
    params = split_top_level(line[span[0] : span[1]])
    fixed = []
    after_default = False
    for param in params:
        text, after_default = _fix_parameter(param, after_default)
        fixed.append(text)
    return line[: span[0]] + ",".join(fixed) + line[span[1] :]


def fix_source(source: str) -> str:
    return "".join(fix_def_line(line) for line in source.splitlines(keepends=True))


def stub_files() -> list[Path]:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise SystemExit(f"{DISTRIBUTION} is not installed: make typecheck installs it "
                         f"(pip install --no-deps {DISTRIBUTION}==<version in the Makefile>)") from None
    files = [Path(str(dist.locate_file(f))) for f in dist.files or [] if str(f).endswith(".pyi")]
    if not files:
        raise SystemExit(f"{DISTRIBUTION} has no .pyi files in its RECORD; reinstall it")
    return files


def mark_typed(files: list[Path]) -> int:
    """Add py.typed to each top-level stub package folder; returns how many were added."""
    added = 0
    for folder in sorted({_package_root(f) for f in files}):
        marker = folder / "py.typed"
        if not marker.exists():
            marker.write_text("")
            added += 1
    return added


def _package_root(path: Path) -> Path:
    folder = path.parent
    while (folder.parent / "__init__.pyi").exists():
        folder = folder.parent
    return folder


def parse_error(source: str, name: str) -> str | None:
    try:
        ast.parse(source, filename=name)
    except SyntaxError as exc:
        return f"{name}:{exc.lineno}: {exc.msg}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the installed stubs parse")
    args = parser.parse_args(argv)
    problems = []
    changed = 0
    files = stub_files()
    if not args.check:
        changed += mark_typed(files)
    for path in files:
        with open(path, encoding="utf-8", newline="") as handle:  # keep the files' line endings
            source = handle.read()
        if not args.check:
            fixed = fix_source(source)
            if fixed != source:
                with open(path, "w", encoding="utf-8", newline="") as handle:
                    handle.write(fixed)
                changed += 1
                source = fixed
        error = parse_error(source, str(path))
        if error:
            problems.append(error)
    for problem in problems:
        print(f"tensorrt stubs still do not parse: {problem}", file=sys.stderr)
    if not problems:
        print(f"tensorrt stubs parse ({changed} file(s) patched or marked typed)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
