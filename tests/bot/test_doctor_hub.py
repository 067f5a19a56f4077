"""`lcm-bot doctor` asks a loopback hub (HF_ENDPOINT) about repositories via huggingface_hub."""

from __future__ import annotations

import re

import pytest

from bot.doctor import FAIL, OK, WARN
from tests.bot.cli_env import clean_env
from tests.bot.hub_double import GATED, PRIVATE, HubDouble, Repo
from tests.bot.test_cli_doctor import DUMMY_TOKEN, _closed_port, items, lcm_bot

BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
LCM_LORA = "latent-consistency/lcm-lora-sdv1-5"
READER, GRANTED, REVOKED = "hf_reader", "hf_granted", "hf_revoked"


@pytest.fixture
def hub_env(tmp_path) -> dict[str, str]:
    """A clean environment: the hub allowed, an empty model cache, no saved hub login, a CPU."""
    return clean_env(tmp_path, LCM_DEVICE="cpu", DISCORD_TOKEN=DUMMY_TOKEN)


def doctor(env: dict[str, str], cwd, hub: HubDouble | None, token: str | None, **settings):
    env = {**env, **settings}
    env["HF_ENDPOINT"] = hub.url if hub else f"http://127.0.0.1:{_closed_port()}"
    if token:
        env["HF_TOKEN"] = token
    done = lcm_bot(["doctor"], env, cwd)
    assert "Traceback" not in done.stderr, done.stderr
    assert token is None or token not in done.stdout + done.stderr, "the token is never printed"
    return items(done.stdout)


def _hub(base: str | None) -> HubDouble:
    repos = {LCM_LORA: Repo()}
    if base is not None:
        repos[BASE] = Repo(base)
    return HubDouble(repos=repos, tokens={READER: set(), GRANTED: {BASE}})


# The model files line words a refusal exactly as the start does (generation.models.load_errors).
@pytest.mark.parametrize(
    ("base", "token", "says"),
    [
        (
            GATED,
            None,
            f"{BASE} is gated and needs a token: accept its conditions at {{hub}}/{BASE}",
        ),
        (GATED, READER, f"{BASE} is gated and the hub token in use has no access to it yet"),
        (None, None, f"{BASE} is not on the Hugging Face hub, or it is private: check the id"),
        (PRIVATE, READER, f"{BASE} is not on the Hugging Face hub, or it is private and the hub"),
        (
            "public",
            REVOKED,
            "the hub refused HF_TOKEN (Invalid credentials in Authorization header): create a "
            "new read token at {hub}/settings/tokens",
        ),
    ],
)
def test_a_base_model_the_hub_refuses_fails_with_its_own_fix(hub_env, tmp_path, base, token, says):
    with _hub(base) as hub:
        report = doctor(hub_env, tmp_path, hub, token, LCM_MODEL="sd15")
    status, detail = report["model files"]
    assert status == FAIL, detail
    assert detail.startswith("sd15 base model: "), detail
    assert says.format(hub=hub.url) in detail, detail
    # The token from the environment reached the hub: huggingface_hub sent it, not doctor.
    assert {sent for path, sent in hub.requests if path.startswith("/api/models/")} == {token}
    assert hub.asked_about(BASE)


def test_no_hub_is_a_warning_that_names_the_endpoint(hub_env, tmp_path):
    report = doctor(hub_env, tmp_path, None, None, LCM_MODEL="sd15")
    status, detail = report["model files"]
    assert status == WARN, detail
    assert "sd15: not downloaded yet: the first start downloads base model" in detail
    assert "Could not check the hub: no answer from http://127.0.0.1:" in detail
    assert "without internet access here the first start fails" in detail


def test_a_gated_base_the_token_may_read_is_not_a_hub_problem(hub_env, tmp_path):
    with _hub(GATED) as hub:
        report = doctor(hub_env, tmp_path, hub, GRANTED, LCM_MODEL="sd15")
    status, detail = report["model files"]
    if status == FAIL:  # only a disk too small for sd15 may fail it here, not the hub
        assert detail.startswith("sd15: base model") and "GB is free under" in detail, detail
    else:
        assert status == OK and detail.startswith("sd15: not downloaded yet"), detail
    assert (f"/api/models/{BASE}/auth-check", GRANTED) in hub.requests


def per_style(detail: str) -> list[str]:
    """The styles line's problems, one per style ("; " also occurs inside one)."""
    return re.split(r"; (?=style ')", detail)


def _styles(tmp_path, **sources: str) -> str:
    path = tmp_path / "styles.toml"
    path.write_text(
        "".join(
            f'[styles.{name}]\nsource = "{source}"\n'
            + ('weight_name = "pixel.safetensors"\n' if name == "pixel" else "")
            for name, source in sources.items()
        )
    )
    return str(path)


def test_style_hub_ids_are_asked_of_the_hub(hub_env, tmp_path):
    hub = HubDouble(
        repos={
            "someone/ink-lora": Repo(),
            "someone/gated-lora": Repo(GATED),
            "someone/pixel-lora": Repo(files=("pixel_v2.safetensors", "README.md")),
        },
        tokens={READER: set()},
    )
    styles = _styles(
        tmp_path,
        ink="someone/ink-lora",
        neon="someone/gated-lora",
        chalk="someone/no-such-lora",
        pixel="someone/pixel-lora",
    )
    with hub:
        report = doctor(hub_env, tmp_path, hub, READER, LCM_STYLES_FILE=styles)
    status, detail = report["styles"]
    assert status == FAIL
    assert per_style(detail) == [
        "style 'neon': someone/gated-lora is gated and HF_TOKEN has no access to it yet: accept "
        f"its conditions at {hub.url}/someone/gated-lora with that token's account (some are "
        "approved by hand)",
        "style 'chalk': someone/no-such-lora is not on the Hugging Face hub, or it is private "
        f"and HF_TOKEN cannot read it: check `source` in {styles}, and the token's access",
        "style 'pixel': someone/pixel-lora has no file pixel.safetensors (its .safetensors "
        "files: pixel_v2.safetensors): correct `weight_name`",
    ], detail


def test_style_hub_ids_the_hub_accepts_pass(hub_env, tmp_path):
    hub = HubDouble(
        repos={"someone/ink-lora": Repo(), "someone/gated-lora": Repo(GATED)},
        tokens={GRANTED: {"someone/gated-lora"}},
    )
    styles = _styles(tmp_path, ink="someone/ink-lora", neon="someone/gated-lora")
    with hub:
        report = doctor(hub_env, tmp_path, hub, GRANTED, LCM_STYLES_FILE=styles)
    assert report["styles"] == (OK, f"{styles}: 2 style(s); for tiny: ink, neon")
    assert hub.asked_about("someone/ink-lora") and hub.asked_about("someone/gated-lora")


def test_style_hub_ids_without_a_hub_are_a_warning(hub_env, tmp_path):
    styles = _styles(tmp_path, ink="someone/ink-lora")
    report = doctor(hub_env, tmp_path, None, None, LCM_STYLES_FILE=styles)
    status, detail = report["styles"]
    assert status == WARN and "could not check the hub ids: no answer from" in detail, detail


def test_style_hub_ids_without_a_token_say_that_a_token_would_help(hub_env, tmp_path):
    hub = HubDouble(repos={"someone/gated-lora": Repo(GATED)})
    styles = _styles(tmp_path, neon="someone/gated-lora", chalk="someone/private-lora")
    with hub:
        report = doctor(hub_env, tmp_path, hub, None, LCM_STYLES_FILE=styles)
    status, detail = report["styles"]
    assert status == FAIL
    assert per_style(detail) == [
        f"style 'neon': someone/gated-lora is gated and needs a token: accept its conditions at "
        f"{hub.url}/someone/gated-lora while logged in, then set HF_TOKEN to a read token of "
        "that account",
        "style 'chalk': someone/private-lora is not on the Hugging Face hub, or it is private: "
        f"check `source` in {styles}; for a private repository set HF_TOKEN to a token that can "
        "read it",
    ], detail
