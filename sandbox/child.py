"""The runner inside the sandbox: set the limits, load the program, run each test, report.

Standard library only, run as a script by the sandbox's interpreter. The parent sends one JSON
header on stdin (the program, the tests, the limits, a nonce and the report descriptor); stdin is
then closed to the program. Every outcome goes to the report descriptor as a JSON line carrying
the nonce, never to stdout, so a program that prints cannot pass for the runner; the last line
says the tests finished. A run that ends without it (os._exit, a kill) is not a pass.

The program and the tests share one Python process, so this cannot stop a program that digs
through the interpreter (frames, gc) for the runner's own references; it stops what an honest
mistake or a shortcut does: exiting early, printing "passed", rebinding names, raising
SystemExit, replacing AssertionError or os.write.
"""

import json
import os
import resource
import sys
import types

_MB = 1024 * 1024


def _set_limits(limits: dict) -> None:
    # Soft CPU limit first (SIGXCPU, which the parent reads as a timeout), the hard one a second later.
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * _MB,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mb"] * _MB,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _high_water_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:300]


def _repr(value) -> str:
    try:
        return repr(value)[:60]
    except BaseException:  # noqa: BLE001 (a test's own object may fail to show itself)
        return f"<{type(value).__name__}>"


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "passed"
    return "failed" if type(error) is AssertionError else "error"  # noqa: E721 (exactly the real one)


def main() -> None:
    header = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # Nothing but stdio and the report reaches the program (a descriptor some library of the
    # parent's left inheritable, bubblewrap's info pipe).
    os.closerange(3, header["report_fd"])
    os.closerange(header["report_fd"] + 1, 1 << 16)
    if header["workdir"]:  # the weaker mode; bubblewrap has already moved us there
        os.chdir(header["workdir"])
    # Bound now: the program may rebind os.write, json.dumps, os._exit or builtins later.
    write, dumps, fd, nonce, exit_now = os.write, json.dumps, header["report_fd"], header["nonce"], os._exit
    memory_error = MemoryError

    def report(**record) -> None:
        record["nonce"] = nonce
        line = (dumps(record) + "\n").encode()
        while line:
            line = line[write(fd, line) :]

    def test_reporter(name, error, case="") -> None:
        if isinstance(error, memory_error):
            report(memory=True)
        report(test=name, outcome=_outcome(error), detail="" if error is None else case + _describe(error))

    _set_limits(header["limits"])
    report(started=True)  # from here on, whatever happens is the program's doing
    # The program gets a fresh __main__ (pickle and multiprocessing look there), not this module.
    sys.modules["__main__"] = main_module = types.ModuleType("__main__")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import testplan  # noqa: E402 (after the path is set)

    del sys.path[0]
    if header["libraries"]:  # the run names pytest: guidecode's copy of it, if it has one (libraries.py)
        sys.path.append(os.path.join(here, "lib"))
    sys.modules.pop("testplan", None)  # the program gets no handle on it by name
    _run(header, main_module.__dict__, report, test_reporter, testplan, memory_error)
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 (the program may have closed it)
            pass
    # Neither wait4 nor our own ru_maxrss can tell the run's peak memory: both keep the resident
    # set of the large parent we were spawned from. The kernel's high-water mark of this
    # process's memory (VmHWM) starts afresh at exec; children count by their ru_maxrss.
    peak_kb = max(_high_water_kb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    report(done=True, peak_kb=peak_kb)
    exit_now(0)


def _run(header: dict, namespace: dict, report, test_reporter, testplan, memory_error) -> None:
    program, tests, entry_point = header["program"], header["tests"], header["entry_point"]
    namespace.update({"__name__": "__main__" if tests is None else "candidate", "__builtins__": __builtins__})
    try:
        exec(compile(program, "program.py", "exec"), namespace)
    except BaseException as error:  # noqa: BLE001 (SystemExit and KeyboardInterrupt included)
        if tests is None and isinstance(error, SystemExit) and error.code in (0, None):
            test_reporter(testplan.PROGRAM_TEST, None)  # a script may end with sys.exit(0)
            return
        if isinstance(error, memory_error):
            report(memory=True)
        report(load_error=_describe(error))
        return
    if tests is None:
        test_reporter(testplan.PROGRAM_TEST, None)
        return
    _run_tests(namespace, tests, entry_point, report, test_reporter, testplan)


def _run_tests(namespace: dict, tests: str, entry_point, report, test_reporter, testplan) -> None:
    module = testplan.instrument(tests, entry_point)
    # The tests run in a copy of the program's globals: the program's functions keep their own
    # dict, so rebinding a global from inside them cannot reach the reporter the tests call.
    scope = dict(namespace)
    scope[testplan.REPORT] = test_reporter
    try:
        exec(compile(module, "tests.py", "exec"), scope)
        for name in testplan.test_functions(module):
            _call(scope, name, test_reporter, testplan)
        if testplan.has_check(module, entry_point):
            if entry_point not in namespace:
                report(tests_error=f"the program defines no {entry_point!r} (the entry point)")
                return
            scope["check"](namespace[entry_point])
    except BaseException as error:  # noqa: BLE001
        report(tests_error=_describe(error))


def _call(scope: dict, name: str, test_reporter, testplan) -> None:
    """Runs a test function or method once per case (`testplan.cases`); the first failing case fails it."""
    owner_name, _, method = name.partition("::")
    owner = scope[owner_name] if method else None
    try:
        function = getattr(owner, method) if method else scope[name]
        cases = testplan.cases(function, owner)
    except BaseException as error:  # noqa: BLE001 (a malformed parametrize mark; a class rebound)
        test_reporter(name, error)
        return
    if not cases:  # pytest skips a test with an empty parameter set; none ran, so it did not pass
        test_reporter(name, RuntimeError("its @pytest.mark.parametrize gives no case to run"))
        return
    for number, kwargs in enumerate(cases, start=1):
        try:
            _one_case(function, owner, method, kwargs)
        except BaseException as error:  # noqa: BLE001
            shown = ", ".join(f"{key}={_repr(value)}" for key, value in kwargs.items())
            test_reporter(name, error, f"case {number} of {len(cases)} ({shown[:120]}): " if len(cases) > 1 or kwargs else "")
            return
    test_reporter(name, None)


def _one_case(function, owner, method: str, kwargs: dict) -> None:
    """One call: of the function, or of the method on a fresh instance (pytest's), between the
    class's setup_method and teardown_method when it has them."""
    if owner is None:
        function(**kwargs)
        return
    instance = owner()
    bound = getattr(instance, method)
    if hasattr(instance, "setup_method"):
        instance.setup_method(bound)
    try:
        bound(**kwargs)
    finally:
        if hasattr(instance, "teardown_method"):
            instance.teardown_method(bound)


if __name__ == "__main__":
    main()
