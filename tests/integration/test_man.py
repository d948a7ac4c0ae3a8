#!/usr/bin/env python3
"""test_man.py -- the man pages render cleanly and say what the code says.

ctest runs this with USOCK_BIN_DIR (the build directory) and USOCK_SOURCE_DIR
(the source tree) in the environment. The pages are written in man/NAME.in;
CMake configures each into BIN_DIR/man/NAME (configure_file @ONLY, which fills
in @PROJECT_VERSION@). The test checks:

1. The configured pages are exactly usock.1, usock.3 and usock_LAYER.3 for
   every include/usock/LAYER.h but version.h (which usock(3) covers), one
   per man/*.in; each renders with `groff -t -ww -z -man` (all warnings on)
   with nothing on stderr and status 0, on the default device and -Tutf8.
2. No @NAME@ placeholder is left in a configured page, the sources use no
   other than @PROJECT_VERSION@ (configure_file would blank it silently),
   and each page's .TH line is "NAME SECTION DATE 'usock VERSION' ..." with
   NAME its file's name in capitals and VERSION what `usock --version` prints.
3. usock(1), docs/cli.md and the tool's --help name the same commands and,
   for each command, the same options, and the tool takes exactly those.
   An option word is "-" or "--", then a letter or digit, then letters,
   digits and dashes, not preceded by a word character or a dash (so
   "no-such-host" and "upload-1-x.bin" hold none). Where they are read:
   - docs/cli.md: a command is a "## NAME" heading that is one lowercase
     word; its options are the option words of the first fenced block under
     it (the synopsis) and of every inline `code` span of the section
     outside fenced blocks (examples are fenced, so they count only there).
   - usock(1): a command is a ".SS NAME" of the COMMANDS section; its
     options are the option words of the tag lines of its .TP paragraphs
     (the line after .TP), with \\- read as - and font escapes dropped.
   - `usock --help`: the commands are the "  NAME ..." lines under
     "commands:"; `usock CMD --help`: the option words of the usage lines
     (up to the first empty line) and the leading "-x, --long" words of each
     later line that begins with spaces and a dash.
   - the tool: for every command and every option word found anywhere,
     `usock CMD OPT --zz-no-such-option --zz-no-such-option` is run. The
     parser stops at the first unknown option (status 2) before a command
     starts, so nothing runs: OPT is taken unless stderr says "unknown
     option 'OPT'" (an option with a value swallows the first --zz).
   -h and --help are every command's; they are documented once (usock(1)'s
   OPTIONS, docs/cli.md's "Exit status and messages") and left out of the
   per-command sets, but the tool must take them for every command.
4. The exit statuses of usock(1) (the .TP tags of EXIT STATUS) are those of
   the table under docs/cli.md's "## Exit status" heading, and those that
   the "exit status:" lines of `usock --help` and `usock CMD --help` name.
5. Every function that include/usock/LAYER.h declares USOCK_API is named in
   the SYNOPSIS of man/usock_LAYER.3.in, and every usock_* function named
   there is declared in the header; usock(3)'s SEE ALSO names every layer
   page.
6. When man-db's man is installed, `man -l --warnings -E UTF-8 PAGE` prints
   no warning (skipped with the reason when it is not).

Every subprocess has a time limit. No network.
"""
import os
import re
import shlex
import shutil
import subprocess
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("USOCK_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BIN_DIR = Path(os.environ.get("USOCK_BIN_DIR") or SOURCE_DIR / "build")
SANITIZED = re.search(r"(?m)^USOCK_SANITIZE:BOOL=(ON|1|TRUE|YES)$",
                      (BIN_DIR / "CMakeCache.txt").read_text()
                      if (BIN_DIR / "CMakeCache.txt").is_file() else "") is not None
MAN_SRC = SOURCE_DIR / "man"
MAN_OUT = BIN_DIR / "man"
USOCK = BIN_DIR / "tools" / "usock"
CLI_MD = SOURCE_DIR / "docs" / "cli.md"

TIMEOUT = 30  # seconds for any one subprocess

OPTION_RE = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][A-Za-z0-9-]*)")
# configure_file's @VAR@ (CMake variable names: letters, digits, _ . / + -)
PLACEHOLDER_RE = re.compile(r"@[A-Za-z0-9_./+-]+@")
HELP_OPTIONS = {"-h", "--help"}
BOGUS = "--zz-no-such-option"


def run(cmd, **kw):
    """Runs cmd (a list) with a time limit; returns the CompletedProcess."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat", MANWIDTH="80")
    return subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT, env=env, **kw)


def options_in(text):
    return set(OPTION_RE.findall(text))


def layers():
    """The layer names: include/usock/LAYER.h but version.h."""
    return sorted(p.stem for p in (SOURCE_DIR / "include" / "usock").glob("*.h")
                  if p.stem != "version")


def expected_pages():
    return {"usock.1", "usock.3"} | {"usock_%s.3" % name for name in layers()}


def roff_plain(line):
    """A roff line as text: \\- as -, font and spacing escapes dropped,
    the macro name and argument quotes removed."""
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = (line.replace("\\-", "-").replace("\\~", " ").replace("\\&", "")
            .replace("\\(aq", "'").replace("\\|", "").replace("\\ ", " "))
    line = re.sub(r"^\.[A-Za-z]+\s*", "", line)
    return line.replace('"', "")


def roff_sections(text):
    """{SECTION NAME: [lines]} of a page, for its .SH headings."""
    sections, current = {}, None
    for line in text.splitlines():
        m = re.match(r'^\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            current = m.group(1).strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def tp_tags(lines):
    """The tag lines of the .TP paragraphs among lines (the line after .TP)."""
    return [lines[i + 1] for i, line in enumerate(lines[:-1]) if re.match(r"^\.TP\b", line)]


# ---------------------------------------------------------------- usock(1)

def page_commands(page_text):
    """{command: set of options} from usock(1)'s COMMANDS section."""
    lines = roff_sections(page_text).get("COMMANDS", [])
    commands, current = {}, None
    for line in lines:
        m = re.match(r'^\.SS\s+"?([a-z]+)', line)
        if m:
            current = m.group(1)
            commands[current] = []
        elif current is not None:
            commands[current].append(line)
    return {name: set().union(*[options_in(roff_plain(t)) for t in tp_tags(body)])
            for name, body in commands.items()}


def page_exit_statuses(page_text):
    tags = tp_tags(roff_sections(page_text).get("EXIT STATUS", []))
    return {int(roff_plain(t)) for t in tags if roff_plain(t).strip().isdigit()}


# ---------------------------------------------------------------- docs/cli.md

def md_sections(text):
    """{heading: text} for the "## " headings of a Markdown file."""
    parts = re.split(r"(?m)^## (.*)$", text)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def docs_commands(text):
    """{command: set of options} from docs/cli.md (rule in the docstring)."""
    out = {}
    for heading, body in md_sections(text).items():
        if not re.fullmatch(r"[a-z]+", heading):
            continue
        fences = re.findall(r"(?ms)^```[^\n]*\n(.*?)^```", body)
        prose = re.sub(r"(?ms)^```[^\n]*\n.*?^```[^\n]*$", "", body)
        opts = options_in(fences[0]) if fences else set()
        for span in re.findall(r"`([^`\n]+)`", prose):
            opts |= options_in(span)
        out[heading] = opts - HELP_OPTIONS
    return out


def docs_exit_statuses(text):
    for heading, body in md_sections(text).items():
        if heading.lower().startswith("exit status"):
            return {int(n) for n in re.findall(r"(?m)^\|\s*(\d+)\s*\|", body)}
    return set()


# ---------------------------------------------------------------- --help

def help_text(*args):
    r = run([USOCK, *args, "--help"])
    if r.returncode != 0 or r.stderr:
        raise AssertionError("usock %s --help: status %d, stderr %r"
                             % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def help_commands():
    text = help_text()
    block = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"(?m)^  ([a-z]+)\b", block))


def help_options(text):
    usage, _, rest = text.partition("\n\n")
    opts = options_in(usage)
    for line in rest.splitlines():
        m = re.match(r"^\s+(-{1,2}[A-Za-z0-9][\w-]*(?:,\s*-{1,2}[A-Za-z0-9][\w-]*)*)", line)
        if m:
            opts |= options_in(m.group(1))
    return opts - HELP_OPTIONS


def help_exit_statuses(text):
    m = re.search(r"exit status:(.*?)(?:\n\n|\Z)", text, re.S)
    return {int(n) for n in re.findall(r"\b(\d+)\b", m.group(1))} if m else set()


def tool_takes(command, option):
    r = run([USOCK, command, option, BOGUS, BOGUS])
    return "unknown option '%s'" % option not in r.stderr


# ---------------------------------------------------------------- headers

def api_functions(header):
    text = re.sub(r"/\*.*?\*/", " ", header.read_text(), flags=re.S)
    text = re.sub(r"(?m)^\s*#.*$", " ", text)
    return set(re.findall(r"\bUSOCK_API\b[^;(]*?\b(usock_\w+)\s*\(", text))


class ManPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MAN_OUT.is_dir():
            raise AssertionError("no configured pages in %s (man/*.in)" % MAN_OUT)
        cls.pages = sorted(p for p in MAN_OUT.iterdir() if p.is_file())

    def page(self, name):
        return (MAN_OUT / name).read_text()

    # 1
    def test_page_set(self):
        self.assertEqual({p.name for p in self.pages}, expected_pages())
        self.assertEqual({p.name[:-3] for p in MAN_SRC.glob("*.in")}, expected_pages())

    def test_groff_renders_without_warnings(self):
        for page in self.pages:
            for device in ([], ["-Tutf8"]):
                with self.subTest(page=page.name, device=device):
                    r = run(["groff", "-t", "-ww", "-z", "-man", *device, page])
                    self.assertEqual((r.returncode, r.stderr), (0, ""))

    # 2
    def test_no_placeholder_left(self):
        for src in sorted(MAN_SRC.glob("*.in")):
            with self.subTest(source=src.name):
                self.assertEqual(set(PLACEHOLDER_RE.findall(src.read_text())),
                                 {"@PROJECT_VERSION@"})
        for page in self.pages:
            with self.subTest(page=page.name):
                self.assertEqual(PLACEHOLDER_RE.findall(page.read_text()), [])

    def test_th_line_has_the_version(self):
        r = run([USOCK, "--version"])
        self.assertEqual(r.returncode, 0)
        version = r.stdout.strip()
        self.assertRegex(version, r"^usock \d+\.\d+\.\d+")
        for page in self.pages:
            with self.subTest(page=page.name):
                th = [l for l in page.read_text().splitlines() if l.startswith(".TH ")]
                self.assertEqual(len(th), 1)
                fields = shlex.split(th[0])[1:]
                name, section = page.name.rsplit(".", 1)
                self.assertEqual(fields[0], name.upper().replace("-", "\\-"))
                self.assertEqual(fields[1], section)
                self.assertRegex(fields[2], r"^\d{4}-\d\d-\d\d$")
                self.assertEqual(fields[3], version)

    # 3
    def test_commands_agree(self):
        page = page_commands(self.page("usock.1"))
        docs = docs_commands(CLI_MD.read_text())
        self.assertEqual(set(page), set(docs), "usock(1) vs docs/cli.md")
        self.assertEqual(set(page), help_commands(), "usock(1) vs usock --help")

    def test_options_agree(self):
        page = page_commands(self.page("usock.1"))
        docs = docs_commands(CLI_MD.read_text())
        for command in sorted(help_commands()):
            with self.subTest(command=command):
                self.assertTrue(docs.get(command), "no options read from docs/cli.md")
                self.assertEqual(page.get(command), docs.get(command), "usock(1) vs docs/cli.md")
                self.assertEqual(help_options(help_text(command)), docs.get(command),
                                 "usock %s --help vs docs/cli.md" % command)

    @unittest.skipIf(SANITIZED, "the option parser is the same code in the plain build, "
                     "where this runs; hundreds of ASan starts would add a minute")
    def test_tool_takes_exactly_the_documented_options(self):
        page = page_commands(self.page("usock.1"))
        docs = docs_commands(CLI_MD.read_text())
        commands = sorted(help_commands())
        every = set(HELP_OPTIONS)
        for command in commands:
            every |= page.get(command, set()) | docs.get(command, set())
            every |= help_options(help_text(command))
        probes = [(c, o) for c in commands for o in sorted(every)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda p: tool_takes(*p), probes))
        taken = {}
        for (c, o), ok in zip(probes, results):
            if ok:
                taken.setdefault(c, set()).add(o)
        for command in commands:
            with self.subTest(command=command):
                self.assertEqual(taken.get(command, set()), docs.get(command, set()) | HELP_OPTIONS)

    # 4
    def test_exit_statuses_agree(self):
        page = page_exit_statuses(self.page("usock.1"))
        docs = docs_exit_statuses(CLI_MD.read_text())
        self.assertIn(0, docs)
        self.assertEqual(page, docs)
        helps = help_exit_statuses(help_text())
        for command in help_commands():
            helps |= help_exit_statuses(help_text(command))
        self.assertEqual(helps, docs, "the 'exit status:' lines of --help")

    # 5
    def test_synopsis_names_every_api_function(self):
        for layer in layers():
            with self.subTest(layer=layer):
                declared = api_functions(SOURCE_DIR / "include" / "usock" / (layer + ".h"))
                self.assertTrue(declared)
                src = (MAN_SRC / ("usock_%s.3.in" % layer)).read_text()
                synopsis = "\n".join(roff_plain(l) for l in roff_sections(src).get("SYNOPSIS", []))
                named = set(re.findall(r"\b(usock_\w+)\s*\(", synopsis))
                self.assertEqual(declared - named, set(), "declared, not in the SYNOPSIS")
                self.assertEqual(named - declared, set(), "in the SYNOPSIS, not declared")

    def test_usock3_see_also_names_every_layer(self):
        see_also = roff_sections(self.page("usock.3")).get("SEE ALSO", [])
        named = set(re.findall(r"\b(usock_\w+)\s*\(3\)",
                               "\n".join(roff_plain(l) for l in see_also)))
        self.assertEqual(named, {"usock_" + layer for layer in layers()})

    # 6
    def test_man_renders_without_warnings(self):
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        if "--warnings" not in run(["man", "--help"]).stdout:
            self.skipTest("this man has no --warnings (not man-db)")
        for page in self.pages:
            with self.subTest(page=page.name):
                r = run(["man", "-l", "--warnings", "-E", "UTF-8", page])
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertIn("NAME", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
