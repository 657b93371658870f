"""The Dockerfile builds in two stages from the lock file and runs unprivileged with a
healthcheck on the API's liveness route."""

from __future__ import annotations

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
