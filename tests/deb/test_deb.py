#!/usr/bin/env python3
"""test_deb.py -- check the Debian packages that scripts/deb.sh built.

scripts/check-deb.sh runs this after scripts/deb.sh and lintian, with
USOCK_DEBS set to the .deb files deb.sh printed (whitespace-separated);
without it, the .deb files in build/deb/ are taken. It is not a ctest test
(tests/integration/test_*.py are): it needs the packages, which only
`make check-deb` builds.

It reads each package's fields and file list (`dpkg-deb -f`, its data
tarball) and extracts the three packages into one throwaway root
(`dpkg -x`), then checks:

- names, versions (= project(usock VERSION ...) in CMakeLists.txt),
  sections, Multi-Arch and dependencies;
- libusock0: exactly the versioned shared library and the SONAME link,
  the package named after the SONAME, its symbols file;
- libusock-dev: the headers, libusock.a, the libusock.so link, usock.pc,
  the CMake package files, the man 3 pages;
- usock: bin/usock (`--version` prints the package's version), its man 1
  page, its bash completion;
- inside the root: a small C program built with `pkg-config --cflags
  --libs usock` (shared, then static) and with CMake's
  find_package(usock), run against the extracted libusock0.

Nothing is installed on the system; everything stays in a temporary
directory. Loopback-free: the program talks over a socketpair.
"""
import gzip
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import unittest
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("USOCK_SOURCE_DIR") or Path(__file__).resolve().parents[2])
STEP_TIMEOUT = 300  # seconds for one build step (cmake, cc, dpkg)
RUN_TIMEOUT = 30    # seconds for one run of a built program

PACKAGES = ("libusock0", "libusock-dev", "usock")

HELLO_C = r"""
/* hello.c -- one line through a socketpair, and the library's version. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <usock.h>

int main(void)
{
    usock *a, *b;
    char buf[64] = {0};
    int r = usock_socketpair(&a, &b, AF_UNIX, SOCK_STREAM);

    if (r < 0) {
        fprintf(stderr, "socketpair: %s\n", usock_strerror(r));
        return 1;
    }
    if ((r = usock_sendall(a, "ping", 4)) < 0) {
        fprintf(stderr, "sendall: %s\n", usock_strerror(r));
        return 1;
    }
    ssize_t n = usock_recv(b, buf, sizeof buf - 1);
    if (n < 0) {
        fprintf(stderr, "recv: %s\n", usock_strerror((int)n));
        return 1;
    }
    printf("%s %s %s\n", buf, USOCK_VERSION_STRING, usock_errname(-2));
    return (usock_close(a) < 0) | (usock_close(b) < 0);
}
"""

HELLO_CMAKE = """
cmake_minimum_required(VERSION 3.18)
project(hello C)
find_package(usock %(major_minor)s CONFIG REQUIRED)
message(STATUS "usock_VERSION=${usock_VERSION}")
add_executable(hello_shared hello.c)
target_link_libraries(hello_shared PRIVATE usock::usock)
add_executable(hello_static hello.c)
target_link_libraries(hello_static PRIVATE usock::usock_static)
"""


def run(cmd, env=None, cwd=None, timeout=STEP_TIMEOUT, check=True):
    """Runs cmd (a list), returns the CompletedProcess; fails the test with
    the command's output when check is set and it does not exit 0."""
    r = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise AssertionError("command failed (%d): %s\nstdout:\n%s\nstderr:\n%s" % (
            r.returncode, shlex.join(str(c) for c in cmd), r.stdout, r.stderr))
    return r


def project_version():
    text = (SOURCE_DIR / "CMakeLists.txt").read_text()
    return re.search(r"^project\(usock VERSION ([0-9.]+)", text, re.M).group(1)


def multiarch():
    r = run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], check=False)
    if r.returncode == 0 and r.stdout.strip():
        return r.stdout.strip()
    return run(["gcc", "-print-multiarch"]).stdout.strip()


def parse_depends(value):
    """Depends as a dict name -> version constraint ('' when none); an
    alternative (a | b) counts as its first name."""
    deps = {}
    for item in filter(None, (s.strip() for s in value.split(","))):
        first = item.split("|")[0].strip()
        m = re.match(r"^([a-z0-9][a-z0-9+.-]*)(?::\w+)?\s*(?:\((.*)\))?$", first)
        if not m:
            raise AssertionError("cannot parse dependency %r" % item)
        deps[m.group(1)] = (m.group(2) or "").strip()
    return deps


def dynamic_section(path):
    """readelf -d as a list of (tag, value) pairs: ('SONAME', 'libusock.so.0')."""
    out = run(["readelf", "-d", "-W", path]).stdout
    return re.findall(r"\((\w+)\)\s+[^[]*\[([^\]]*)\]", out)


def defined_dynamic_symbols(path):
    out = run(["nm", "-D", "--defined-only", path]).stdout
    linker = {"_init", "_fini", "_edata", "_end", "__bss_start"}
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()} - linker


class Deb:
    """One .deb: its control fields, its data tarball's members by path."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.field("Package")
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(self.path)],
                              stdout=subprocess.PIPE, check=True, timeout=STEP_TIMEOUT).stdout
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.seek(0)
            with tarfile.open(fileobj=f) as tar:
                self.members = {os.path.normpath(m.name): m for m in tar.getmembers()
                                if os.path.normpath(m.name) != "."}

    def field(self, name):
        return run(["dpkg-deb", "-f", self.path, name]).stdout.strip()

    def control_file(self, name):
        r = run(["dpkg-deb", "-I", self.path, name], check=False)
        return r.stdout if r.returncode == 0 else None

    def files(self):
        """Paths of everything but directories."""
        return {p for p, m in self.members.items() if not m.isdir()}


VERSION = project_version()
MULTIARCH = None
LIBDIR = None
ROOT = None
DEBS = {}
TMP = None


def setUpModule():
    global MULTIARCH, LIBDIR, ROOT, TMP
    listed = os.environ.get("USOCK_DEBS", "").split()
    paths = listed or sorted(str(p) for p in (SOURCE_DIR / "build" / "deb").glob("*.deb"))
    for p in paths:
        deb = Deb(p)
        if deb.name in PACKAGES:
            if deb.name in DEBS:
                raise AssertionError("two .deb files for %s: %s, %s" % (deb.name, DEBS[deb.name].path, p))
            DEBS[deb.name] = deb
    missing = [n for n in PACKAGES if n not in DEBS]
    if missing:
        raise AssertionError("no .deb for %s among %s (run scripts/deb.sh)" % (", ".join(missing), paths))
    MULTIARCH = multiarch()
    LIBDIR = "usr/lib/" + MULTIARCH
    TMP = Path(tempfile.mkdtemp(prefix="usock-deb-"))
    ROOT = TMP / "root"
    ROOT.mkdir()
    for name in PACKAGES:
        run(["dpkg", "-x", DEBS[name].path, ROOT])


def tearDownModule():
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)


def root_env(**extra):
    """The environment of a program run from the root: its libraries first."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = str(ROOT / LIBDIR)
    env.update(extra)
    return env


def pkg_config_env():
    """pkg-config that sees only the root's usock.pc (no system one)."""
    pc = str(ROOT / LIBDIR / "pkgconfig")
    return root_env(PKG_CONFIG_PATH=pc, PKG_CONFIG_LIBDIR=pc)


class Fields(unittest.TestCase):
    def test_names_versions_architecture(self):
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        for name in PACKAGES:
            deb = DEBS[name]
            with self.subTest(package=name):
                self.assertEqual(deb.field("Version"), VERSION)
                self.assertEqual(deb.field("Architecture"), arch)
                self.assertIn(deb.field("Source"), ("", "usock"))
                self.assertTrue(deb.field("Description"))
                self.assertEqual(deb.field("Maintainer"), DEBS["usock"].field("Maintainer"))

    def test_sections_and_multiarch(self):
        self.assertEqual(DEBS["libusock0"].field("Section"), "libs")
        self.assertEqual(DEBS["libusock-dev"].field("Section"), "libdevel")
        self.assertEqual(DEBS["usock"].field("Section"), "net")
        self.assertEqual(DEBS["libusock0"].field("Multi-Arch"), "same")
        self.assertEqual(DEBS["libusock-dev"].field("Multi-Arch"), "same")

    def test_library_depends(self):
        deps = parse_depends(DEBS["libusock0"].field("Depends"))
        for lib in ("libc6", "libssl3", "libc-ares2", "zlib1g"):
            self.assertIn(lib, deps)
        self.assertNotIn("libusock0", deps)

    def test_dev_depends(self):
        deps = parse_depends(DEBS["libusock-dev"].field("Depends"))
        self.assertEqual(deps.get("libusock0"), "= " + VERSION)
        for dev in ("libssl-dev", "zlib1g-dev", "libc-ares-dev"):
            self.assertIn(dev, deps)

    def test_cli_depends(self):
        deps = parse_depends(DEBS["usock"].field("Depends"))
        self.assertIn("libc6", deps)
        needed = [v for t, v in dynamic_section(ROOT / "usr/bin/usock") if t == "NEEDED"]
        if "libusock.so.0" in needed:
            self.assertIn("libusock0", deps)
            self.assertTrue(deps["libusock0"].startswith(">="), deps["libusock0"])
        for lib, pkg in (("libssl.so.3", "libssl3"), ("libcares.so.2", "libc-ares2"), ("libz.so.1", "zlib1g")):
            if lib in needed:
                self.assertIn(pkg, deps)

    def test_files_disjoint_and_owned_by_root(self):
        seen = {}
        for name in PACKAGES:
            deb = DEBS[name]
            for path in deb.files():
                with self.subTest(path=path):
                    self.assertNotIn(path, seen, "in %s and %s" % (seen.get(path), name))
                seen[path] = name
            for path, m in deb.members.items():
                self.assertEqual((m.uid, m.gid), (0, 0), "%s in %s" % (path, name))

    def test_docs(self):
        for name in PACKAGES:
            files = DEBS[name].files()
            with self.subTest(package=name):
                self.assertIn("usr/share/doc/%s/copyright" % name, files)
                self.assertIn("usr/share/doc/%s/changelog.gz" % name, files)
                with gzip.open(ROOT / ("usr/share/doc/%s/changelog.gz" % name), "rt") as f:
                    self.assertTrue(f.readline().startswith("usock (%s) " % VERSION))


class Library(unittest.TestCase):
    def setUp(self):
        self.deb = DEBS["libusock0"]
        self.real = "%s/libusock.so.%s" % (LIBDIR, VERSION)

    def soname(self):
        names = [v for t, v in dynamic_section(ROOT / self.real) if t == "SONAME"]
        self.assertEqual(len(names), 1, names)
        return names[0]

    def test_exactly_library_and_soname_link(self):
        soname = self.soname()
        link = "%s/%s" % (LIBDIR, soname)
        files = {p for p in self.deb.files() if not p.startswith("usr/share/doc/libusock0/")}
        self.assertEqual(files, {self.real, link})
        self.assertTrue(self.deb.members[self.real].isfile())
        self.assertEqual(self.deb.members[self.real].mode & 0o777, 0o644)
        self.assertTrue(self.deb.members[link].issym())
        self.assertEqual(self.deb.members[link].linkname, "libusock.so.%s" % VERSION)

    def test_soname_names_package(self):
        soname = self.soname()
        m = re.fullmatch(r"libusock\.so\.(\d+)", soname)
        self.assertIsNotNone(m, soname)
        self.assertEqual(self.deb.name, "libusock" + m.group(1))
        shlibs = self.deb.control_file("shlibs") or ""
        self.assertIn("libusock %s libusock%s" % (m.group(1), m.group(1)), shlibs)

    def test_no_rpath_and_its_libraries(self):
        dyn = dynamic_section(ROOT / self.real)
        tags = {t for t, _ in dyn}
        self.assertFalse(tags & {"RPATH", "RUNPATH"}, dyn)
        needed = {v for t, v in dyn if t == "NEEDED"}
        for lib in ("libc.so.6", "libssl.so.3", "libcrypto.so.3", "libcares.so.2", "libz.so.1"):
            self.assertIn(lib, needed)

    def test_exports_and_symbols_file(self):
        exported = defined_dynamic_symbols(ROOT / self.real)
        self.assertTrue(exported)
        self.assertEqual({s for s in exported if not s.startswith("usock_")}, set())
        symbols = self.deb.control_file("symbols")
        self.assertIsNotNone(symbols, "libusock0 has no symbols file")
        listed = set(re.findall(r"^ (usock_\w+)@Base ", symbols, re.M))
        self.assertEqual(listed, exported)


class Dev(unittest.TestCase):
    def setUp(self):
        self.deb = DEBS["libusock-dev"]
        self.files = self.deb.files()

    def test_headers(self):
        src = SOURCE_DIR / "include"
        expect = {"usr/include/usock.h"} | {"usr/include/usock/" + p.name
                                             for p in (src / "usock").glob("*.h")}
        expect.add("usr/include/usock/version.h")
        got = {p for p in self.files if p.startswith("usr/include/")}
        self.assertEqual(got, expect)
        for path in expect - {"usr/include/usock/version.h"}:
            with self.subTest(header=path):
                self.assertEqual((ROOT / path).read_bytes(),
                                 (src / path[len("usr/include/"):]).read_bytes())
        version_h = (ROOT / "usr/include/usock/version.h").read_text()
        self.assertIn('#define USOCK_VERSION_STRING "%s"' % VERSION, version_h)
        self.assertNotIn("@", version_h)

    def test_static_library(self):
        path = "%s/libusock.a" % LIBDIR
        self.assertIn(path, self.files)
        self.assertEqual((ROOT / path).read_bytes()[:8], b"!<arch>\n")
        out = run(["nm", "--defined-only", ROOT / path]).stdout
        self.assertRegex(out, r"\bT usock_strerror\b")

    def test_dev_link(self):
        link = "%s/libusock.so" % LIBDIR
        self.assertTrue(self.deb.members[link].issym())
        target = self.deb.members[link].linkname
        self.assertEqual(target, "libusock.so.0")
        self.assertIn("%s/%s" % (LIBDIR, target), DEBS["libusock0"].files())
        self.assertTrue((ROOT / link).resolve().is_file())

    def test_pkg_config(self):
        self.assertIn("%s/pkgconfig/usock.pc" % LIBDIR, self.files)
        env = pkg_config_env()
        self.assertEqual(run(["pkg-config", "--modversion", "usock"], env=env).stdout.strip(), VERSION)
        prefix = run(["pkg-config", "--variable=prefix", "usock"], env=env).stdout.strip()
        self.assertEqual(os.path.realpath(prefix), os.path.realpath(ROOT / "usr"))
        libdir = run(["pkg-config", "--variable=libdir", "usock"], env=env).stdout.strip()
        self.assertEqual(os.path.realpath(libdir), os.path.realpath(ROOT / LIBDIR))

    def test_cmake_files(self):
        cmake = "%s/cmake/usock/" % LIBDIR
        got = {p[len(cmake):] for p in self.files if p.startswith(cmake)}
        for name in ("usockConfig.cmake", "usockConfigVersion.cmake", "usockTargets.cmake"):
            self.assertIn(name, got)
        self.assertTrue([n for n in got if re.fullmatch(r"usockTargets-\w+\.cmake", n)], got)
        for name in got:
            text = (ROOT / cmake / name).read_text()
            with self.subTest(file=name):
                self.assertNotIn("/obj-", text)      # no path of the build tree
                self.assertNotIn("debian/tmp", text)

    def test_man3_pages(self):
        pages = {p for p in self.files if p.startswith("usr/share/man/")}
        self.assertIn("usr/share/man/man3/usock.3.gz", pages)
        for p in pages:
            self.assertRegex(p, r"^usr/share/man/man3/usock(_\w+)?\.3\.gz$")
        for src in sorted((SOURCE_DIR / "man").glob("*.3.in")):
            page = "usr/share/man/man3/%s.gz" % src.name[:-3]
            with self.subTest(page=page):
                self.assertIn(page, pages)
        for p in pages:
            with gzip.open(ROOT / p, "rt") as f:
                text = f.read()
            with self.subTest(page=p):
                self.assertRegex(text, r"(?m)^\.TH ")
                self.assertNotIn("@PROJECT_VERSION@", text)

    def test_nothing_else(self):
        allowed = re.compile(r"^(usr/include/usock(\.h|/\w+\.h)|%s/(libusock\.a|libusock\.so|"
                             r"pkgconfig/usock\.pc|cmake/usock/[\w-]+\.cmake)|"
                             r"usr/share/man/man3/[\w]+\.3\.gz|usr/share/doc/libusock-dev/.*)$"
                             % re.escape(LIBDIR))
        self.assertEqual({p for p in self.files if not allowed.match(p)}, set())


class Cli(unittest.TestCase):
    def setUp(self):
        self.deb = DEBS["usock"]

    def test_files(self):
        files = {p for p in self.deb.files() if not p.startswith("usr/share/doc/usock/")}
        self.assertEqual(files, {"usr/bin/usock", "usr/share/man/man1/usock.1.gz",
                                 "usr/share/bash-completion/completions/usock"})
        self.assertEqual(self.deb.members["usr/bin/usock"].mode & 0o777, 0o755)

    def test_version(self):
        tool = ROOT / "usr/bin/usock"
        needed = [v for t, v in dynamic_section(tool) if t == "NEEDED"]
        if "libusock.so.0" in needed:
            ldd = run(["ldd", tool], env=root_env()).stdout
            self.assertIn(str(ROOT / LIBDIR / "libusock.so.0"), ldd)
        r = run([tool, "--version"], env=root_env(), timeout=RUN_TIMEOUT)
        self.assertEqual(r.stdout, "usock %s\n" % VERSION)

    def test_man1_page(self):
        with gzip.open(ROOT / "usr/share/man/man1/usock.1.gz", "rt") as f:
            text = f.read()
        self.assertRegex(text, r'(?im)^\.TH\s+"?usock"?\s+"?1\b')
        self.assertNotIn("@PROJECT_VERSION@", text)

    def test_completion(self):
        path = ROOT / "usr/share/bash-completion/completions/usock"
        run(["bash", "-n", path])
        self.assertRegex(path.read_text(), r"(?m)^complete\b.*\busock$")


class BuildAgainstRoot(unittest.TestCase):
    """A program built against the extracted libusock-dev, run against the
    extracted libusock0."""

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(dir=TMP))
        (self.dir / "hello.c").write_text(HELLO_C)
        self.expect = "ping %s ENOENT\n" % VERSION

    def run_hello(self, exe, shared):
        ldd = run(["ldd", exe], env=root_env()).stdout
        if shared:
            self.assertIn(str(ROOT / LIBDIR / "libusock.so.0"), ldd)
        else:
            self.assertNotIn("libusock", ldd)
        r = run([exe], env=root_env(), timeout=RUN_TIMEOUT)
        self.assertEqual(r.stdout, self.expect)

    def test_pkg_config_shared(self):
        env = pkg_config_env()
        flags = run(["pkg-config", "--cflags", "--libs", "usock"], env=env).stdout.split()
        self.assertIn("-I" + str(ROOT / "usr/include"), [os.path.normpath(f) if f.startswith("-I") else f
                                                         for f in flags])
        exe = self.dir / "hello_shared"
        run(["cc", "-o", exe, self.dir / "hello.c", *flags], env=env)
        self.run_hello(exe, shared=True)

    def test_pkg_config_static(self):
        env = pkg_config_env()
        cflags = run(["pkg-config", "--cflags", "usock"], env=env).stdout.split()
        libs = run(["pkg-config", "--static", "--libs", "usock"], env=env).stdout.split()
        self.assertIn("-lusock", libs)
        libs = [str(ROOT / LIBDIR / "libusock.a") if f == "-lusock" else f for f in libs]
        exe = self.dir / "hello_static"
        run(["cc", "-o", exe, self.dir / "hello.c", *cflags, *libs], env=env)
        self.run_hello(exe, shared=False)

    def test_cmake_find_package(self):
        major_minor = ".".join(VERSION.split(".")[:2])
        (self.dir / "CMakeLists.txt").write_text(HELLO_CMAKE % {"major_minor": major_minor})
        build = self.dir / "build"
        r = run(["cmake", "-S", self.dir, "-B", build,
                 "-Dusock_DIR=%s" % (ROOT / LIBDIR / "cmake" / "usock"),
                 "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"], env=root_env())
        self.assertIn("usock_VERSION=%s" % VERSION, r.stdout)
        run(["cmake", "--build", build, "-j2"], env=root_env())
        self.run_hello(build / "hello_shared", shared=True)
        self.run_hello(build / "hello_static", shared=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
