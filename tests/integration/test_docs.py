"""Help text, man pages and options stay in sync, for every tool in the Makefile's list."""
import os
import re
import subprocess

import harness

NEEDS_BPF = False


def tools():
    with open(os.path.join(harness.ROOT, "Makefile")) as f:
        return re.findall(r"^TOOLS \+= (\S+)", f.read(), re.M)


def help_options(tool):
    out = subprocess.run([harness.tool_path(tool), "--help"], capture_output=True, text=True,
                         timeout=10).stdout
    opts = set()
    for line in out.splitlines():
        m = re.match(r"^\s+(?:-(\S), )?--([a-z0-9-]+)", line)
        if m:
            if m.group(1):
                opts.add("-" + m.group(1))
            opts.add("--" + m.group(2))
    return opts


def man_options(tool):
    text = open(os.path.join(harness.ROOT, "docs", tool + ".8")).read()
    text = text.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z0-9?][a-z0-9-]*)", text))


def test_every_tool_has_a_man_page_with_sections():
    for tool in tools():
        path = os.path.join(harness.ROOT, "docs", tool + ".8")
        assert os.path.exists(path), f"{tool}: no docs/{tool}.8"
        text = open(path).read()
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "OUTPUT", "EXAMPLES",
                        "REQUIREMENTS", "SEE ALSO"):
            assert f".SH {section}" in text, f"{tool}.8 lacks {section}"


def test_help_options_are_in_man_page():
    for tool in tools():
        missing = help_options(tool) - man_options(tool) - {"--usage", "--help", "-?"}
        assert not missing, f"{tool}: --help options not in docs/{tool}.8: {sorted(missing)}"


def test_man_page_options_exist():
    for tool in tools():
        opts = help_options(tool)
        documented = {o for o in man_options(tool) if o.startswith("--")}
        # Long options the man page names must be real (short ones may appear in prose).
        stray = {o for o in documented if o not in opts and o not in ("--usage", "--help")}
        assert not stray, f"{tool}: docs/{tool}.8 names options --help lacks: {sorted(stray)}"
