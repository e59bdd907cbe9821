#!/usr/bin/env python3
"""Runs every command line of README.md and docs/*.md and checks what they show.

    docs_commands.py TOOL SOURCE_DIR [--update]

What is checked, per Markdown file (each in a fresh directory where `models/` is the repository's):
  - a ```sh block: every line that starts with `onnx-reinit` runs (a `\\` continues it) and must exit 0,
    or the code its `# exit N` comment names; other lines (the set-up scripts) are not run here;
  - a ``` block whose first line is `$ onnx-reinit ...`: each `$` command runs, and what it prints
    (stdout, then stderr) must be the lines shown below it; a line `...` stands for any number of lines,
    and durations (`0.02 s`) may differ;
  - a ```yaml or ```json block right after `<!-- file: NAME -->` is written to NAME first (a rules file
    the next commands use);
  - a table right after `<!-- onnx-reinit --list WHAT -->` must be what that command prints (it is
    generated from the code); `--update` rewrites those tables instead of failing.
Files a command writes stay in that file's directory, so later commands can read them.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOOL, SOURCE = sys.argv[1], os.path.abspath(sys.argv[2])
UPDATE = "--update" in sys.argv[3:]
DURATION = re.compile(r"\b\d+(\.\d+)? s\b")
failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def run(command, cwd, env):
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def matches(expected, actual):
    """Lines of `expected` equal `actual`'s, `...` standing for any run of lines (durations normalized)."""
    expected = [DURATION.sub("N s", line.rstrip()) for line in expected]
    actual = [DURATION.sub("N s", line.rstrip()) for line in actual]

    def at(i, j):
        if i == len(expected):
            return j == len(actual)
        if expected[i] == "...":
            return any(at(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and expected[i] == actual[j] and at(i + 1, j + 1)

    return at(0, 0)


def blocks(lines):
    """(start line index, info string, body lines, line before the fence) of each fenced block."""
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, info = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        yield i, info, [line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:j]], before
        i = j + 1


def commands_of_sh(body):
    """Joined `onnx-reinit` command lines of a sh block, with their line offsets."""
    joined, start, current = [], None, ""
    for k, line in enumerate(body):
        if start is None:
            if not line.lstrip().startswith("onnx-reinit"):
                continue
            start, current = k, ""
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            joined.append((start, current))
            start = None
    return joined


def expected_exit(command):
    m = re.search(r"#\s*exit (\d+)", command)
    return int(m.group(1)) if m else 0


def check_file(path, env):
    rel = os.path.relpath(path, SOURCE)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    work = tempfile.mkdtemp(prefix="docs-")
    os.symlink(os.path.join(SOURCE, "models"), os.path.join(work, "models"))
    os.mkdir(os.path.join(work, "out"))
    ran = 0
    for start, info, body, before in blocks(lines):
        where = f"{rel}:{start + 1}"
        file_note = re.match(r"<!-- file: (\S+) -->", before)
        if file_note and info in ("yaml", "json"):
            with open(os.path.join(work, file_note.group(1)), "w", encoding="utf-8") as f:
                f.write("\n".join(body) + "\n")
        elif info == "sh":
            for offset, command in commands_of_sh(body):
                code, out, err = run(command, work, env)
                ran += 1
                if code != expected_exit(command):
                    fail(f"{rel}:{start + 2 + offset}", f"`{command.strip()}` exited {code}, not "
                         f"{expected_exit(command)}: {err.strip()[-500:]}")
        elif body and body[0].startswith("$ onnx-reinit"):
            k = 0
            while k < len(body):
                command = body[k][2:]
                shown = []
                k += 1
                while k < len(body) and not body[k].startswith("$ "):
                    shown.append(body[k])
                    k += 1
                code, out, err = run(command, work, env)
                ran += 1
                actual = out.splitlines() + err.splitlines()
                if code != expected_exit(command):
                    fail(where, f"`{command}` exited {code}, not {expected_exit(command)}: {err.strip()[-500:]}")
                elif not matches(shown, actual):
                    fail(where, f"`{command}` printed\n" + "\n".join(actual) + "\n  where the text shows\n" +
                         "\n".join(shown))
    # Tables generated from the code.
    out_lines, i, changed = [], 0, False
    while i < len(lines):
        out_lines.append(lines[i])
        m = re.match(r"^<!-- (onnx-reinit --list [\w-]+) -->$", lines[i].strip())
        i += 1
        if not m:
            continue
        j = i
        while j < len(lines) and lines[j].startswith("|"):
            j += 1
        code, out, err = run(m.group(1), work, env)
        ran += 1
        generated = out.rstrip("\n").split("\n")
        if code != 0:
            fail(f"{rel}:{i}", f"`{m.group(1)}` exited {code}: {err.strip()}")
        elif lines[i:j] != generated:
            if UPDATE:
                changed = True
            else:
                fail(f"{rel}:{i}", f"the table differs from `{m.group(1)}` (tests/docs_commands.py --update "
                     "rewrites it)")
        out_lines.extend(generated if code == 0 else lines[i:j])
        i = j
    if changed:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(out_lines))
    shutil.rmtree(work)
    return ran


def main():
    bindir = tempfile.mkdtemp(prefix="docs-bin-")
    os.symlink(os.path.abspath(TOOL), os.path.join(bindir, "onnx-reinit"))
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    docs = [os.path.join(SOURCE, "README.md")]
    docs_dir = os.path.join(SOURCE, "docs")
    docs += sorted(os.path.join(docs_dir, n) for n in os.listdir(docs_dir) if n.endswith(".md"))
    total = 0
    try:
        for path in docs:
            total += check_file(path, env)
    finally:
        shutil.rmtree(bindir)
    if failures:
        print("\n".join(failures))
        print(f"{len(failures)} of {total} documented commands disagree with the tool")
        return 1
    print(f"all {total} documented commands ran as shown ({len(docs)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
