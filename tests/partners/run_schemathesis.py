"""Run the schemathesis CLI (argv as for `st`), working around a CPython 3.11 bug.

CPython before 3.11.8 can raise "SystemError: AST constructor recursion depth
mismatch" from ast.parse() deep in a call stack. Hypothesis parses source code
only to *describe* lambdas in reprs, so a failure there is replaced by a plain
description instead of aborting the run with a runtime error.
"""

import sys

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _describe_safely(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <source unavailable>"


lambda_sources._lambda_description = _describe_safely

if __name__ == "__main__":
    from schemathesis.cli import schemathesis

    sys.argv[0] = "st"
    sys.exit(schemathesis())
