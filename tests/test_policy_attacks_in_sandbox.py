"""The attack suite again, inside the real kernel: both layers, then the OS layer alone.

With policy="restricted" each attack must be refused by the policy inside the kernel;
with policy="none" (OS layer only) the attacks run unrestricted and the canaries must
still stay out of reach: the kernel's environment is scrubbed and the host's files are
invisible. Poisoning attacks are left out of the policy="none" run: without the policy
they do poison the kernel's own modules, which is what the policy is for.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import skip_missing_system_package
from policy_attack_cases import ATTACKS, CANARY_ENV, Attack, host_lookup

try:
    from sandbox import Sandbox, SandboxConfig
except ImportError:  # pragma: no cover - only before sandbox part 1 landed
    pytest.skip("sandbox part 1 not available", allow_module_level=True)

CANARY = "canary-" + secrets.token_hex(8)
OS_ONLY_SKIPPED = {"breakpoint-call"}  # pdb would wait on stdin until the cell times out


def config(policy: str) -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    return SandboxConfig(policy=policy, launcher="bwrap", require_isolation=True, timeout_s=20)


@pytest.fixture(scope="module")
def canary_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary") / "secret.txt"
    path.write_text(CANARY)
    return path


def open_sandbox(policy: str) -> Iterator[Sandbox]:
    mp = pytest.MonkeyPatch()
    mp.setenv(CANARY_ENV, CANARY)
    try:
        with Sandbox(config(policy)) as sb:
            sb.register_host_function("host_lookup", host_lookup)
            sb.inject("traces", [{"history": [{"role": "user", "content": "hi"}]}])
            yield sb
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def restricted() -> Iterator[Sandbox]:
    yield from open_sandbox("restricted")


@pytest.fixture(scope="module")
def os_only() -> Iterator[Sandbox]:
    yield from open_sandbox("none")


def leaked(result: object) -> bool:
    return CANARY in repr(result)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_both_layers_refuse_attack(restricted: Sandbox, attack: Attack) -> None:
    result = restricted.execute(attack.code)
    assert result.error is not None and result.error.type in ("PolicyViolation", "PolicyError"), (
        f"{attack.id}: {result}"
    )
    assert not leaked(result)
    probe = restricted.execute("print(sum(range(10)))\ngetattr(1, '__cla' + 'ss__')")
    assert probe.stdout == "45\n" and probe.error is not None
    assert probe.error.type == "PolicyError"


@pytest.mark.parametrize(
    "attack",
    [a for a in ATTACKS if a.category != "poisoning" and a.id not in OS_ONLY_SKIPPED],
    ids=lambda a: a.id,
)
def test_os_layer_alone_keeps_canary(os_only: Sandbox, attack: Attack) -> None:
    result = os_only.execute(attack.code)
    assert not leaked(result), f"{attack.id}: {result}"


def test_os_layer_alone_hides_host_file(os_only: Sandbox, canary_file: Path) -> None:
    result = os_only.execute(f"print(open({str(canary_file)!r}).read())")
    assert result.error is not None and not leaked(result)


def test_os_layer_alone_scrubs_environment(os_only: Sandbox) -> None:
    result = os_only.execute(f"import os\nprint(os.environ.get({CANARY_ENV!r}))")
    assert result.stdout == "None\n"
