#!/usr/bin/env python3
"""test_install.py -- install usock into a temporary prefix and use it as a user would.

ctest runs this with USOCK_BIN_DIR (the build directory) and USOCK_SOURCE_DIR
(the source tree) in the environment. It:

- installs the build with `cmake --install BIN_DIR --prefix TMP`;
- checks the installed headers (usock/version.h made from project()'s one
  version), libusock.a, libusock.so (its SONAME from USOCK_SOVERSION),
  usock.pc and the CLI;
- checks that libusock.so exports exactly the USOCK_API functions of the
  headers: usock_* names only, no usock__ internals, nothing else;
- checks that usock.pc is relocatable: its prefix is found from where the
  file lies (${pcfiledir}), so plain `pkg-config` gives the prefix the files
  were installed under, and still the right one after the tree is moved;
- extracts the C example from README.md (between `<!-- example: hello.c -->`
  and `<!-- /example -->`), builds it with `cc $(pkg-config --cflags --libs
  usock)` against the install, once linked to the shared library and once to
  the static one, and runs both against a Python TCP server on 127.0.0.1;
- builds the same example as a CMake project of a user's: find_package(usock)
  against the install, linked to usock::usock (shared) and usock::usock_static,
  runs both, again after the install is moved, and checks that another
  minor or major version is refused.

If the build was made with USOCK_SANITIZE=ON, the example is built with the
same compiler and -fsanitize=address,undefined, as the library needs.
Loopback only; every step has a time limit.
"""
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("USOCK_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BIN_DIR = Path(os.environ.get("USOCK_BIN_DIR") or SOURCE_DIR / "build")

STEP_TIMEOUT = 180  # seconds for install, pkg-config, compile
RUN_TIMEOUT = 30    # seconds for one run of the example
EXAMPLE_RE = re.compile(
    r"<!-- example: (?P<name>[\w.]+) -->\s*```c\n(?P<code>.*?)```\s*<!-- /example -->", re.S)
# Names a linker may add to a shared library's dynamic symbol table on its
# own; they are not the library's exports.
LINKER_SYMBOLS = {"_init", "_fini", "_edata", "_end", "__bss_start"}


def run(cmd, env=None, timeout=STEP_TIMEOUT, check=True):
    """Runs cmd (a list), returns the CompletedProcess; fails the test with
    the command's output when check is set and it does not exit 0."""
    r = subprocess.run([str(c) for c in cmd], env=env, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise AssertionError("command failed (%d): %s\nstdout:\n%s\nstderr:\n%s" % (
            r.returncode, shlex.join(str(c) for c in cmd), r.stdout, r.stderr))
    return r


def read_cache(bin_dir):
    """CMakeCache.txt as a dict NAME -> value."""
    cache = {}
    for line in (bin_dir / "CMakeCache.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z_][\w.+-]*):[A-Z_]+=(.*)$", line)
        if m:
            cache[m.group(1)] = m.group(2)
    return cache


def real(path):
    """A path with symlinks and `..` resolved, as a string."""
    return os.path.realpath(str(path))


def same_path(a, b):
    return bool(a) and real(a) == real(b)


def normalize_flag(flag):
    """-I/-L flags with their path resolved; other flags as they are."""
    if flag[:2] in ("-I", "-L") and len(flag) > 2:
        return flag[:2] + real(flag[2:])
    return flag


def pc_variable(name, env):
    """A variable of usock.pc as pkg-config gives it, resolved as a path."""
    r = run(["pkg-config", "--variable=%s" % name, "usock"], env=env)
    value = r.stdout.strip()
    if not value:
        raise AssertionError("usock.pc has no %s" % name)
    return real(value)


def cmake_true(value):
    return value.upper() in ("1", "ON", "YES", "TRUE", "Y") if value else False


def project_version():
    """The one version: project(usock VERSION X.Y.Z) in CMakeLists.txt."""
    text = (SOURCE_DIR / "CMakeLists.txt").read_text()
    return re.search(r"project\(usock VERSION (\d+\.\d+\.\d+)", text).group(1)


def soversion():
    text = (SOURCE_DIR / "CMakeLists.txt").read_text()
    return re.search(r"set\(USOCK_SOVERSION (\d+)\)", text).group(1)


def declared_api():
    """Every function the public headers mark USOCK_API."""
    names = set()
    for h in [SOURCE_DIR / "include" / "usock.h", *sorted((SOURCE_DIR / "include" / "usock").glob("*.h"))]:
        text = re.sub(r"/\*.*?\*/", " ", h.read_text(), flags=re.S)
        names.update(re.findall(r"\bUSOCK_API\b[^;{]*?\b(usock_\w+)\s*\(", text))
    return names


class UpperServer:
    """A one-connection TCP server on 127.0.0.1, the seed's MyTCPHandler:
    reads one line, answers it stripped and upper-cased, closes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(RUN_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.error = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(RUN_TIMEOUT)
                while b"\n" not in self.received:
                    data = conn.recv(1024)
                    if not data:
                        break
                    self.received += data
                conn.sendall(self.received.strip().upper())
        except OSError as e:
            self.error = e

    def close(self):
        self.thread.join(RUN_TIMEOUT)
        self.sock.close()


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (BIN_DIR / "CMakeCache.txt").is_file():
            raise unittest.SkipTest("no build in %s (set USOCK_BIN_DIR)" % BIN_DIR)
        for tool in ("cmake", "pkg-config", "nm"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s is not installed" % tool)
        cls.cache = read_cache(BIN_DIR)
        cls.sanitize = cmake_true(cls.cache.get("USOCK_SANITIZE"))
        # A sanitized library needs the sanitizer runtime of the compiler
        # that built it; otherwise the README's plain `cc` is the test.
        cls.cc = cls.cache.get("CMAKE_C_COMPILER") if cls.sanitize else None
        cls.cc = cls.cc or shutil.which("cc") or "cc"
        cls.san_flags = (["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
                         if cls.sanitize else [])
        cls.tmp = Path(tempfile.mkdtemp(prefix="usock-install."))
        cls.prefix = cls.tmp / "prefix"
        try:
            run(["cmake", "--install", BIN_DIR, "--prefix", cls.prefix])
            archives = sorted(cls.prefix.glob("lib*/**/libusock.a"))
            if len(archives) != 1:
                raise AssertionError("expected one libusock.a under %s, found %s"
                                     % (cls.prefix, archives))
            # lib, lib64 or the multiarch lib/x86_64-linux-gnu (GNUInstallDirs).
            cls.libdir = archives[0].parent
            cls.pc_dir = cls.libdir / "pkgconfig"
            cls.pc_env = dict(os.environ, PKG_CONFIG_PATH=str(cls.pc_dir))
            cls.pc_env.pop("PKG_CONFIG_LIBDIR", None)
            cls.pc_env.pop("PKG_CONFIG_SYSROOT_DIR", None)
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- the installed files

    def test_libdir_is_gnuinstalldirs(self):
        rel = self.libdir.relative_to(self.prefix).as_posix()
        self.assertRegex(rel, r"^(lib|lib64|lib/[\w-]+-linux-gnu\w*)$")

    def test_headers(self):
        src = SOURCE_DIR / "include"
        headers = [src / "usock.h", *sorted((src / "usock").glob("*.h"))]
        self.assertGreater(len(headers), 3)
        for h in headers:
            rel = h.relative_to(src)
            installed = self.prefix / "include" / rel
            self.assertTrue(installed.is_file(), "%s not installed" % rel)
            self.assertEqual(installed.read_bytes(), h.read_bytes(), "%s differs" % rel)
        self.assertEqual(sorted(p.name for p in (self.prefix / "include" / "usock").iterdir()),
                         sorted([h.name for h in headers[1:]] + ["version.h"]))

    def test_version_header(self):
        # usock/version.h is made from project()'s version; the installed one
        # is the build's and says that version.
        installed = self.prefix / "include" / "usock" / "version.h"
        self.assertTrue(installed.is_file(), "usock/version.h not installed")
        self.assertEqual(installed.read_bytes(),
                         (BIN_DIR / "include" / "usock" / "version.h").read_bytes())
        text = installed.read_text()
        major, minor, patch = project_version().split(".")
        self.assertIn('#define USOCK_VERSION_STRING "%s"' % project_version(), text)
        self.assertIn("#define USOCK_VERSION_MAJOR %s\n" % major, text)
        self.assertIn("#define USOCK_VERSION_MINOR %s\n" % minor, text)
        self.assertIn("#define USOCK_VERSION_PATCH %s\n" % patch, text)

    def test_debian_changelog_has_the_version(self):
        # debian/changelog is the one copy of the version: its newest entry
        # must name project()'s (README, "Versions").
        first = (SOURCE_DIR / "debian" / "changelog").read_text().splitlines()[0]
        m = re.match(r"^usock \(([^)]+)\) ", first)
        self.assertIsNotNone(m, first)
        self.assertEqual(m.group(1), project_version())

    def test_libraries(self):
        major = soversion()
        self.assertTrue((self.libdir / "libusock.a").is_file())
        so = self.libdir / "libusock.so"
        self.assertTrue(so.exists(), "libusock.so not installed")
        self.assertTrue(so.resolve().is_file())
        # The run-time name programs record (SONAME), USOCK_SOVERSION's, and
        # the file named after the release.
        self.assertTrue((self.libdir / ("libusock.so." + major)).exists())
        self.assertEqual(so.resolve().name, "libusock.so." + project_version())
        if shutil.which("readelf"):
            r = run(["readelf", "-d", so])
            self.assertIn("Library soname: [libusock.so.%s]" % major, r.stdout)

    def test_pkgconfig_file(self):
        version = project_version()
        self.assertTrue((self.pc_dir / "usock.pc").is_file(), "usock.pc not in %s" % self.pc_dir)
        r = run(["pkg-config", "--modversion", "usock"], env=self.pc_env)
        self.assertEqual(r.stdout.strip(), version)

    def test_pkgconfig_prefix_is_the_install_prefix(self):
        # Installed with --prefix somewhere else than the configured
        # CMAKE_INSTALL_PREFIX, usock.pc still names where it was put.
        self.assertFalse(same_path(self.cache.get("CMAKE_INSTALL_PREFIX"), self.prefix),
                         "the build was configured for this very prefix")
        self.assertEqual(pc_variable("prefix", self.pc_env), real(self.prefix))
        self.assertEqual(pc_variable("libdir", self.pc_env), real(self.libdir))
        self.assertEqual(pc_variable("includedir", self.pc_env), real(self.prefix / "include"))

    def test_pkgconfig_follows_a_moved_install(self):
        moved = self.tmp / "moved"
        shutil.copytree(self.prefix, moved, symlinks=True)
        try:
            env = dict(self.pc_env,
                       PKG_CONFIG_PATH=str(moved / self.pc_dir.relative_to(self.prefix)))
            self.assertEqual(pc_variable("prefix", env), real(moved))
            flags = [normalize_flag(f) for f in shlex.split(
                run(["pkg-config", "--cflags", "--libs", "usock"], env=env).stdout)]
            self.assertIn("-I%s" % real(moved / "include"), flags)
            self.assertIn("-L%s" % real(moved / self.libdir.relative_to(self.prefix)), flags)
        finally:
            shutil.rmtree(moved, ignore_errors=True)

    def test_cli_installed(self):
        version = project_version()
        usock = self.prefix / "bin" / "usock"
        self.assertTrue(usock.is_file(), "bin/usock not installed")
        r = run([usock, "--version"], timeout=RUN_TIMEOUT)
        self.assertIn(version, r.stdout)

    # ---- the shared library's exports

    def test_exports_only_the_api(self):
        r = run(["nm", "-D", "--defined-only", self.libdir / "libusock.so"])
        exported = set()
        for line in r.stdout.splitlines():
            fields = line.split()
            if fields:
                exported.add(fields[-1].split("@")[0])
        exported -= LINKER_SYMBOLS
        internals = sorted(n for n in exported if n.startswith("usock__"))
        self.assertEqual(internals, [], "usock__ internals exported")
        others = sorted(n for n in exported if not n.startswith("usock_"))
        self.assertEqual(others, [], "names outside usock_ exported")
        api = declared_api()
        self.assertGreater(len(api), 40)
        self.assertEqual(sorted(api - exported), [], "declared USOCK_API but not exported")
        self.assertEqual(sorted(exported - api), [], "exported but not declared USOCK_API")

    # ---- the README's example, built against the install

    def example(self):
        readme = (SOURCE_DIR / "README.md").read_text()
        found = EXAMPLE_RE.findall(readme)
        self.assertEqual(len(found), 1, "README.md must hold one <!-- example: NAME --> block")
        name, code = found[0]
        path = self.tmp / name
        path.write_text(code)
        return path

    def pkg_flags(self):
        """`pkg-config --cflags --libs usock`, as a list, exactly as a user
        runs it: usock.pc finds its prefix from its own place, so no
        --define-variable is needed after `cmake --install --prefix`."""
        r = run(["pkg-config", "--cflags", "--libs", "usock"], env=self.pc_env)
        flags = shlex.split(r.stdout)
        # The paths come as .../lib/pkgconfig/../../include: compare them
        # resolved.
        normal = [normalize_flag(f) for f in flags]
        self.assertIn("-lusock", normal)
        self.assertIn("-I%s" % real(self.prefix / "include"), normal)
        self.assertIn("-L%s" % real(self.libdir), normal)
        return flags

    def build(self, src, exe, flags):
        run([self.cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", src, "-o", exe,
             *flags, *self.san_flags])
        self.assertTrue(exe.is_file())

    def run_example(self, exe, env=None):
        server = UpperServer()
        try:
            r = run([exe, "127.0.0.1", str(server.port)], env=env, timeout=RUN_TIMEOUT,
                    check=False)
        finally:
            server.close()
        self.assertIsNone(server.error)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(server.received, b"Hello, world\n")
        self.assertEqual(r.stdout, "Received: HELLO, WORLD\n")
        self.assertEqual(r.stderr, "")

    def refused(self, exe, env=None):
        # A bound socket that does not listen: connecting to it is refused.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            r = run([exe, "127.0.0.1", str(port)], env=env, timeout=RUN_TIMEOUT, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "connect: Connection refused\n")

    def test_example_shared(self):
        src = self.example()
        exe = self.tmp / "hello_shared"
        self.build(src, exe, self.pkg_flags())
        env = dict(os.environ, LD_LIBRARY_PATH=str(self.libdir))
        if shutil.which("ldd"):
            r = run(["ldd", exe], env=env)
            self.assertIn(str(self.libdir / "libusock.so"), r.stdout)
        self.run_example(exe, env)
        self.refused(exe, env)

    def test_example_static(self):
        src = self.example()
        exe = self.tmp / "hello_static"
        flags = []
        for f in self.pkg_flags():
            flags += ["-Wl,-Bstatic", f, "-Wl,-Bdynamic"] if f == "-lusock" else [f]
        self.build(src, exe, flags)
        env = dict(os.environ)
        env.pop("LD_LIBRARY_PATH", None)
        if shutil.which("ldd"):
            r = run(["ldd", exe], env=env)
            self.assertNotIn("libusock", r.stdout)
        self.run_example(exe, env)
        self.refused(exe, env)

    # ---- find_package(usock): a CMake project of a user's

    CONSUMER = """cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(usock %(version)s REQUIRED)
add_executable(hello_shared hello.c)
target_link_libraries(hello_shared PRIVATE usock::usock)
add_executable(hello_static hello.c)
target_link_libraries(hello_static PRIVATE usock::usock_static)
get_target_property(type usock::usock TYPE)
get_target_property(static_type usock::usock_static TYPE)
get_target_property(inc usock::usock INTERFACE_INCLUDE_DIRECTORIES)
get_target_property(deps usock::usock_static INTERFACE_LINK_LIBRARIES)
file(WRITE ${CMAKE_BINARY_DIR}/found.txt
  "dir=${usock_DIR}\\ntype=${type}\\nstatic_type=${static_type}\\ninc=${inc}\\ndeps=${deps}\\n")
"""

    def consumer(self, prefix, version=None, check=True):
        """Configures and builds the consumer project against the install at
        prefix; returns (build dir, what it found, the configure result)."""
        src = Path(tempfile.mkdtemp(prefix="consumer.", dir=self.tmp))
        (src / "CMakeLists.txt").write_text(self.CONSUMER % {"version": version or project_version()})
        (src / "hello.c").write_text(self.example().read_text())
        build = src / "build"
        flags = " ".join(self.san_flags)
        r = run(["cmake", "-S", src, "-B", build, "-DCMAKE_PREFIX_PATH=%s" % prefix,
                 "-DCMAKE_C_COMPILER=%s" % self.cc, "-DCMAKE_C_FLAGS=%s" % flags,
                 "-DCMAKE_EXE_LINKER_FLAGS=%s" % flags, "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"],
                check=check)
        if r.returncode != 0:
            return build, {}, r
        run(["cmake", "--build", build])
        found = dict(line.split("=", 1) for line in (build / "found.txt").read_text().splitlines())
        return build, found, r

    def test_cmake_config_files(self):
        cmake_dir = self.libdir / "cmake" / "usock"
        for name in ("usockConfig.cmake", "usockConfigVersion.cmake", "usockTargets.cmake"):
            self.assertTrue((cmake_dir / name).is_file(), "%s not installed" % name)
        # Relocatable: no absolute path into the install or the build.
        for f in cmake_dir.glob("*.cmake"):
            text = f.read_text()
            self.assertNotIn(str(self.prefix), text, f.name)
            self.assertNotIn(str(BIN_DIR), text, f.name)

    def test_cmake_consumer_shared_and_static(self):
        build, found, _ = self.consumer(self.prefix)
        self.assertEqual(real(found["dir"]), real(self.libdir / "cmake" / "usock"))
        self.assertEqual(found["type"], "SHARED_LIBRARY")
        self.assertEqual(found["static_type"], "STATIC_LIBRARY")
        self.assertEqual([real(p) for p in found["inc"].split(";")], [real(self.prefix / "include")])
        # The static library brings what it needs to link; the shared one
        # keeps its dependencies to itself.
        for dep in ("Threads::Threads", "ZLIB::ZLIB", "usock::cares"):
            self.assertIn(dep, found["deps"].split(";"))
        if cmake_true(self.cache.get("USOCK_TLS", "ON")):
            self.assertIn("OpenSSL::SSL", found["deps"].split(";"))
        shared, static = build / "hello_shared", build / "hello_static"
        env = dict(os.environ)
        env.pop("LD_LIBRARY_PATH", None)
        if shutil.which("ldd"):
            # CMake gives the program a run path to the installed library.
            self.assertIn(str(self.libdir / "libusock.so"), run(["ldd", shared], env=env).stdout)
            self.assertNotIn("libusock", run(["ldd", static], env=env).stdout)
        for exe in (shared, static):
            self.run_example(exe, env)
            self.refused(exe, env)

    def test_cmake_consumer_after_moving_the_install(self):
        moved = self.tmp / "moved-cmake"
        shutil.copytree(self.prefix, moved, symlinks=True)
        try:
            build, found, _ = self.consumer(moved)
            libdir = moved / self.libdir.relative_to(self.prefix)
            self.assertEqual(real(found["dir"]), real(libdir / "cmake" / "usock"))
            self.assertEqual([real(p) for p in found["inc"].split(";")], [real(moved / "include")])
            env = dict(os.environ)
            env.pop("LD_LIBRARY_PATH", None)
            if shutil.which("ldd"):
                self.assertIn(str(libdir / "libusock.so"),
                              run(["ldd", build / "hello_shared"], env=env).stdout)
            self.run_example(build / "hello_shared", env)
        finally:
            shutil.rmtree(moved, ignore_errors=True)

    def test_cmake_version_check(self):
        # SameMinorVersion: another major or minor version is refused.
        major, minor, _ = project_version().split(".")
        _, _, r = self.consumer(self.prefix, version="%d.0" % (int(major) + 1), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("version: %s" % project_version(), r.stderr)
        _, _, r = self.consumer(self.prefix, version="%s.%d" % (major, int(minor) + 1), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("version: %s" % project_version(), r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
