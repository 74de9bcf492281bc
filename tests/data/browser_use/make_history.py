"""Re-record ``history.json``: a real browser-use run (Debian's chromium, headless) against
a local page, its LLM a scripted OpenAI-compatible server on 127.0.0.1 (see
``tests/_browser_support.py``). Run from the repository: ``python
tests/data/browser_use/make_history.py``.

The run: a navigation to a closed port (an error), a navigation to the shop's page, then
``done`` with the price. ``history.save_to_file`` wrote the file.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from _browser_support import PageServer, ScriptedBrowserLLM, quiet_env, shop_script  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    os.environ.update(quiet_env(tmp))
    with PageServer() as page, ScriptedBrowserLLM(shop_script(page.url + "/")) as server:
        from browser_use import Agent, BrowserProfile
        from browser_use.llm.openai.chat import ChatOpenAI

        llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.api_base, api_key="sk-test")
        profile = BrowserProfile(
            executable_path="/usr/bin/chromium", headless=True, user_data_dir=str(tmp / "profile")
        )
        agent = Agent(
            task="What does the widget cost?",
            llm=llm,
            browser_profile=profile,
            use_vision=False,
            use_judge=False,
        )
        history = asyncio.run(agent.run(max_steps=5))
        history.save_to_file(HERE / "history.json")


if __name__ == "__main__":
    main()
