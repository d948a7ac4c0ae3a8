#!/usr/bin/env python3
"""test_completion.py -- the bash completion of usock (completion/usock).

ctest runs this with USOCK_BIN_DIR (the build directory; the tool is
USOCK_BIN_DIR/tools/usock) and USOCK_SOURCE_DIR (the source tree). Each
completion is asked of `bash --norc --noprofile -c` that sources the script,
finds the function `complete -p usock` names, sets COMP_WORDS, COMP_CWORD,
COMP_LINE and COMP_POINT as bash would for the line (split at the characters
of COMP_WORDBREAKS), calls the function and prints COMPREPLY. It checks:

- that the script registers a function for `usock`;
- the commands after `usock ` (the ones `usock --help` lists, with --help,
  -h and --version), and after a prefix (`usock g` gives get);
- for every command, that the options completed after `usock CMD -` are
  exactly the ones `usock CMD --help` prints (with -h and --help), so the
  completion cannot drift from the tool, and that they include every
  option of the command's synopsis in docs/cli.md;
- echo's --mode values (as `usock --help` lists them), also as --mode=;
- file names after the options and arguments that take a file, directory
  names after those that take a directory (in a temporary directory that
  the shell cds into), also after --opt=, and nothing after those that take
  a number, a host, a URL or a header, nor for hosts and ports.

All of it runs twice: without the bash-completion package's
_init_completion (undefined in the shell), and with the package's
bash_completion sourced first (USOCK_BASH_COMPLETION or
/usr/share/bash-completion/bash_completion; skipped, saying so, when it is
not there). Every bash run has a time limit.
"""
import os
import re
import subprocess
import tempfile
import unittest
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("USOCK_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BIN_DIR = Path(os.environ.get("USOCK_BIN_DIR") or SOURCE_DIR / "build")
USOCK = BIN_DIR / "tools" / "usock"
SCRIPT = SOURCE_DIR / "completion" / "usock"
BASH_COMPLETION = Path(os.environ.get("USOCK_BASH_COMPLETION")
                       or "/usr/share/bash-completion/bash_completion")

TIMEOUT = 30  # seconds for one bash or usock run
WORDBREAKS = "\"'@><=;|&(:"  # bash's COMP_WORDBREAKS, less the blanks
OPTION_RE = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)")
HELP_OPTIONS = {"-h", "--help"}

# Sources the script ($1) after the setup ($2), completes the words $3...
# and prints COMPREPLY, one per line.
DRIVER = r'''
eval "$2"
source "$1" || exit 3
spec=$(complete -p usock) || exit 4
[[ $spec =~ -F\ ([^ ]+) ]] || exit 5
shift 2
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$LINE
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"${BASH_REMATCH[1]}" usock "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
[[ ${#COMPREPLY[@]} -gt 0 ]] && printf '%s\n' "${COMPREPLY[@]}"
exit 0
'''


def bash_words(line):
    """COMP_WORDS for a command line as bash splits it: at blanks, and a run
    of COMP_WORDBREAKS characters is a word of its own. A line that ends in
    a blank has an empty last word."""
    words = []
    for token in line.split(" "):
        if token == "" and words:
            continue
        for piece in re.findall("[%s]+|[^%s]+" % (re.escape(WORDBREAKS), re.escape(WORDBREAKS)),
                                token) or [""]:
            words.append(piece)
    if line.endswith(" "):
        words.append("")
    return words


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=TIMEOUT, **kw)


_help_cache = {}


def usock_help(*args):
    """The stdout of `usock ARGS --help`, which must exit 0."""
    if args not in _help_cache:
        r = run([USOCK, *args, "--help"])
        assert r.returncode == 0, "usock %s --help: %d %s" % (" ".join(args), r.returncode,
                                                             r.stderr)
        _help_cache[args] = r.stdout
    return _help_cache[args]


def commands_of_help():
    """The commands `usock --help` lists (its two-space indented words)."""
    text = usock_help().split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^  ([a-z]+) ", text, re.M))


def options_of_help(cmd):
    return set(OPTION_RE.findall(usock_help(cmd)))


def docs_synopsis_options(cmd):
    """The options of the synopsis (the first code block) under `## CMD` in
    docs/cli.md."""
    docs = (SOURCE_DIR / "docs" / "cli.md").read_text()
    m = re.search(r"^## %s\n+```\n(.*?)```" % re.escape(cmd), docs, re.M | re.S)
    assert m, "no synopsis for %s in docs/cli.md" % cmd
    return set(OPTION_RE.findall(m.group(1)))


class Completion:
    """The tests; a subclass says how the shell is set up (SETUP)."""
    SETUP = ""

    @classmethod
    def setUpClass(cls):
        if not USOCK.exists():
            raise unittest.SkipTest("no %s: build the usock target first" % USOCK)
        cls.tmp = tempfile.TemporaryDirectory(prefix="usock-completion-")
        cls.dir = Path(cls.tmp.name)
        for name in ("alpha.pem", "beta.txt", "a b.txt"):
            (cls.dir / name).write_text("x\n")
        (cls.dir / "certs").mkdir()
        (cls.dir / "certs" / "ca.pem").write_text("x\n")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def complete(self, line, setup=""):
        """COMPREPLY for the command line `line` (the cursor at its end), in
        the temporary directory."""
        words = bash_words(line)
        r = run(["bash", "--norc", "--noprofile", "-c", DRIVER, "bash", SCRIPT,
                 self.SETUP + "\n" + setup, *words],
                cwd=self.dir, env=dict(os.environ, LINE=line))
        self.assertEqual(r.returncode, 0, "completing %r: %s" % (line, r.stderr))
        return r.stdout.splitlines()

    def assertCompletes(self, line, expected):
        got = self.complete(line)
        self.assertEqual(len(got), len(set(got)), "duplicates for %r: %s" % (line, got))
        self.assertEqual(set(got), set(expected), "completing %r" % line)

    # ---- registration and commands

    def test_registered(self):
        r = run(["bash", "--norc", "--noprofile", "-c", self.SETUP + '\nsource "$1"\ncomplete -p usock',
                 "bash", SCRIPT])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^complete -F \S+ usock$")

    def test_commands(self):
        cmds = commands_of_help()
        self.assertGreaterEqual(len(cmds), 8, usock_help())
        self.assertCompletes("usock ", cmds | {"--help", "-h", "--version"})
        self.assertCompletes("usock -", {"--help", "-h", "--version"})

    def test_command_prefix(self):
        self.assertCompletes("usock g", {"get"})
        self.assertCompletes("usock re", {"resolve", "recv"})
        self.assertCompletes("usock --v", {"--version"})
        self.assertCompletes("usock x", set())

    def test_nothing_after_unknown_command_or_version(self):
        self.assertCompletes("usock bogus -", set())
        self.assertCompletes("usock --version ", set())

    # ---- options

    def test_options_are_the_help_options(self):
        for cmd in sorted(commands_of_help()):
            with self.subTest(cmd=cmd):
                expected = options_of_help(cmd) | HELP_OPTIONS
                self.assertGreater(len(expected), 2, usock_help(cmd))
                self.assertCompletes("usock %s -" % cmd, expected)

    def test_options_include_the_docs_synopsis(self):
        for cmd in sorted(commands_of_help()):
            with self.subTest(cmd=cmd):
                got = set(self.complete("usock %s -" % cmd))
                self.assertLessEqual(docs_synopsis_options(cmd), got)

    def test_option_prefix(self):
        self.assertCompletes("usock get --co",
                             {"--compressed", "--connect-timeout", "--cookie", "--cookie-jar"})
        self.assertCompletes("usock echo --u", {"--udp", "--upper", "--unix"})
        # options anywhere: after arguments and after an option's value
        self.assertCompletes("usock resolve localhost 80 --", {"--udp", "--help"})
        self.assertCompletes("usock serve -p 8000 --n", {"--no-status"})

    # ---- values

    def test_mode_values(self):
        m = re.search(r"--mode ([\w|]+)\]", usock_help())
        self.assertTrue(m, usock_help())
        modes = set(m.group(1).split("|"))
        self.assertEqual(len(modes), 5)
        self.assertCompletes("usock echo --mode ", modes)
        self.assertCompletes("usock echo -p 0 --mode t", {"threading"})
        self.assertCompletes("usock echo --mode=", modes)
        self.assertCompletes("usock echo --mode=p", {"poll", "pool"})

    def test_file_options(self):
        files = {"alpha.pem", "beta.txt", "a b.txt", "certs"}
        for line in ("usock serve --tls-cert ", "usock serve --tls-key ", "usock serve --log ",
                     "usock recv -p 0 -o ", "usock connect --unix ", "usock echo --unix ",
                     "usock get -o ", "usock get --data-file ", "usock get -b ",
                     "usock get --cookie ", "usock get -c ", "usock get --cookie-jar ",
                     "usock get --cacert ", "usock get --cert ", "usock get --key ",
                     "usock serve --log=", "usock get --cacert="):
            with self.subTest(line=line):
                self.assertCompletes(line, files)
        self.assertCompletes("usock get --cacert al", {"alpha.pem"})
        self.assertCompletes("usock get --cacert certs/", {"certs/ca.pem"})
        self.assertCompletes("usock serve --tls-key=b", {"beta.txt"})

    def test_directory_options(self):
        for line in ("usock recv -p 0 -O ", "usock get --capath ", "usock get --capath=",
                     "usock serve "):
            with self.subTest(line=line):
                self.assertCompletes(line, {"certs"})
        self.assertCompletes("usock get --capath c", {"certs"})

    def test_file_arguments(self):
        files = {"alpha.pem", "beta.txt", "a b.txt", "certs"}
        self.assertCompletes("usock send localhost 3456 ", files)
        self.assertCompletes("usock send localhost 3456 a", {"alpha.pem", "a b.txt"})
        # options and their values before it are no arguments
        self.assertCompletes("usock send -t 5 localhost --chunk 10 3456 ", files)
        self.assertCompletes("usock send --chunk=10 localhost 3456 ", files)
        self.assertCompletes("usock serve -q -w 2 -b 127.0.0.1 ", {"certs"})
        self.assertCompletes("usock serve --log=x.log ", {"certs"})
        # not before FILE, nor after it, nor after the DIR of serve
        self.assertCompletes("usock send localhost ", set())
        self.assertCompletes("usock send localhost 3456 beta.txt ", set())
        self.assertCompletes("usock serve certs ", set())

    def test_nothing_after_numbers_hosts_urls(self):
        for line in ("usock recv -p ", "usock recv -t ", "usock recv -b ", "usock echo -p ",
                     "usock echo --workers ", "usock serve -w ", "usock serve -p ",
                     "usock send h 1 f --chunk ", "usock send h 1 f --chunk=", "usock connect -t ",
                     "usock udp h 1 m -t ", "usock get -t ", "usock get -m ", "usock get --max-time ",
                     "usock get --connect-timeout ", "usock get --max-redirs ", "usock get -u ",
                     "usock get -H ", "usock get -X ", "usock get -d ", "usock get --proxy ",
                     "usock get -x ", "usock get --noproxy ", "usock get --dns-servers ",
                     "usock resolve ", "usock resolve localhost ", "usock connect ",
                     "usock udp ", "usock get ", "usock get http://localhost/ ", "usock recv ",
                     "usock echo "):
            with self.subTest(line=line):
                self.assertCompletes(line, set())


class WithoutBashCompletion(Completion, unittest.TestCase):
    """No _init_completion in the shell: the script reads COMP_WORDS itself."""
    SETUP = "unset -f _init_completion; ! declare -F _init_completion || exit 6"


class WithBashCompletion(Completion, unittest.TestCase):
    """The bash-completion package loaded first: the script uses its
    _init_completion."""
    SETUP = 'source "%s" && declare -F _init_completion >/dev/null || exit 7' % BASH_COMPLETION

    @classmethod
    def setUpClass(cls):
        if not BASH_COMPLETION.exists():
            raise unittest.SkipTest("bash-completion is not installed (no %s)" % BASH_COMPLETION)
        super().setUpClass()


if __name__ == "__main__":
    unittest.main(verbosity=2)
