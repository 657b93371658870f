"""The Dockerfile builds in two stages from the lock file and runs unprivileged with a
healthcheck on the API's liveness route."""

from __future__ import annotations

import ast
import fnmatch
import re

from market_spine_tests.deploy.kit import REPO


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), per stage."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    found: list[list[str]] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            found.append([])
        found[-1].append(line)
    return found


def test_the_build_installs_from_the_lock_in_its_own_stage() -> None:
    builder, runtime = stages()
    assert builder[0].endswith(" AS builder")
    assert any("requirements.lock" in line for line in builder if line.startswith("COPY "))
    # `make install` installs the lock with --require-hashes, then the package without deps.
    assert any(line.startswith("RUN make install") for line in builder)
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
    # The runtime stage installs nothing: it copies the built virtualenv and code.
    assert not any(line.startswith("RUN") and "install" in line for line in runtime)
    assert any(line.startswith("COPY --from=builder") for line in runtime)


def test_the_image_runs_unprivileged_with_a_healthcheck() -> None:
    runtime = stages()[-1]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    [check] = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert "/healthz" in check and "CMD" in check
    # The port the API is configured with, not a fixed one.
    assert "MARKET_SPINE_API_PORT" in check and ":8000/" not in check
    # The code and the virtualenv are not the run user's to rewrite.
    copies = [line for line in runtime if line.startswith("COPY ")]
    assert copies and not any("--chown" in line for line in copies), copies
    assert runtime.index(check) > runtime.index(next(x for x in runtime if x.startswith("USER ")))


#: A file name a message may cite: a path of words, dots, slashes and hyphens with an extension.
_CITED = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.(?:toml|ya?ml|md|csv|json|sql)\b")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the module's, classes' and functions' docstring nodes."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def cited_repository_files() -> dict[str, str]:
    """Every repository file outside the package that the package's text (its messages, not its
    docstrings) names, by repository path -> the module naming it first."""
    cited: dict[str, str] = {}
    for module in sorted((REPO / "market_spine").rglob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if id(node) in skip:
                continue
            for name in _CITED.findall(node.value):
                path = REPO / name
                if path.is_file() and not path.is_relative_to(REPO / "market_spine"):
                    cited.setdefault(name, str(module.relative_to(REPO)))
    return cited


def image_files() -> list[str]:
    """The repository paths the runtime image holds under /app: the builder stage copies them
    into its /app (its WORKDIR), the runtime stage copies that whole folder."""
    builder, runtime = stages()
    assert "COPY --from=builder /app /app" in runtime
    sources: list[str] = []
    for line in builder:
        if line.startswith("COPY ") and "--from" not in line:
            *given, _target = line.split()[1:]
            sources += given
    return sources


def test_every_file_a_message_cites_is_in_the_image() -> None:
    cited = cited_repository_files()
    # The example files the settings, alerts and cost messages point to are among them.
    assert {"instruments.example.toml", "alerts.example.toml", "prices.example.toml"} <= set(
        cited
    ), cited
    copied = image_files()
    for name, module in cited.items():
        assert any(
            fnmatch.fnmatch(name, source) or name.startswith(source.rstrip("/") + "/")
            for source in copied
        ), f"{module} cites {name}, which the image lacks: COPY it in the Dockerfile"
