"""``ace claude-code learn``: learn from a project's Claude Code sessions into its CLAUDE.md.

Building the parser imports nothing but argparse; the rest loads when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_claude_code_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ace claude-code learn``."""
    group = commands.add_parser("claude-code", help="Claude Code: learn from its sessions")
    sub = group.add_subparsers(dest="claude_code_command", metavar="COMMAND", required=True)
    learn = sub.add_parser(
        "learn",
        help="learn from the project's sessions that went wrong; write CLAUDE.md's ACE section",
        description="Reads the project's Claude Code sessions (~/.claude/projects/<project path "
        "with / as ->/*.jsonl, or --sessions DIR), picks those where a tool call failed, the "
        "user interrupted or corrected the agent, reflects on each (once: a second run skips "
        "them) and writes the learned strategies between the ACE markers of CLAUDE.md, leaving "
        "the rest of the file as it is. Models: the flags, else the configuration (see ace "
        "config).",
    )
    learn.add_argument(
        "project", nargs="?", default=".", metavar="PROJECT_DIR", help="the project (default: .)"
    )
    learn.add_argument("--sessions", metavar="DIR", help="read the session files in DIR instead")
    learn.add_argument("--dry-run", action="store_true", help="show the diff; write nothing")
    learn.add_argument(
        "--claude-md", metavar="PATH", help="the file to write (default: PROJECT_DIR/CLAUDE.md)"
    )
    learn.add_argument(
        "--skillbook",
        metavar="PATH",
        help="the skillbook to learn into (default: PROJECT_DIR/.ace/claude-code-skillbook.json)",
    )
    learn.add_argument(
        "--relearn", action="store_true", help="learn again from sessions learned from before"
    )
    learn.add_argument("--model", metavar="M", help="the model of both roles (litellm string)")
    learn.add_argument("--reflector-model", metavar="M", help="the reflector's model")
    learn.add_argument("--skill-manager-model", metavar="M", help="the skill manager's model")
    learn.set_defaults(handler="ace.cli._claude_code")


def run(args: argparse.Namespace) -> int:
    """Run ``ace claude-code learn``."""
    from pathlib import Path

    from ace.integrations.claude_code import find_sessions, learn_from_sessions

    project = Path(args.project)
    from ace.errors import UsageError

    if not project.is_dir():
        raise UsageError(f"claude-code learn: project directory {project} does not exist")
    find_sessions(project, sessions=args.sessions)  # no sessions: one line, before any model
    roles, keep_alive = _roles(args)
    report = learn_from_sessions(
        project,
        reflector=roles[0],
        skill_manager=roles[1],
        sessions=args.sessions,
        claude_md=args.claude_md,
        skillbook_path=args.skillbook,
        dry_run=args.dry_run,
        relearn=args.relearn,
    )
    del keep_alive
    out = sys.stdout
    out.write(
        f"{len(report.sessions)} session(s) in {report.sessions_dir}: "
        f"{len(report.selected)} learned from, {len(report.already_learned)} learned from "
        f"before, {len(report.sessions) - len(report.selected) - len(report.already_learned)} "
        "without failures or corrections\n"
    )
    for session in report.selected:
        kinds = ", ".join(sorted({s.kind.replace("_", " ") for s in session.signals}))
        out.write(f"  {session.path.name}: {kinds}\n")
    verb = "would add" if report.dry_run else "added"
    out.write(
        f"{verb} {len(report.added)} strateg{'y' if len(report.added) == 1 else 'ies'} to {report.claude_md}\n"
    )
    if report.dry_run:
        out.write(report.diff or f"{report.claude_md}: no change\n")
    return 0


def _roles(args: argparse.Namespace) -> tuple[tuple[Any, Any], tuple[object, ...]]:
    """The reflector and skill manager from the flags and the configuration."""
    from ace.cli._main import CLIError
    from ace.cli._models import REPLAY_PREFIX, SCRIPTED_PREFIX, check_model, resolve
    from ace.config import resolve_config
    from ace.roles import Reflector, SkillManager

    flags = {
        "default": args.model,
        "reflector": args.reflector_model,
        "skill_manager": args.skill_manager_model,
    }
    resolved = resolve_config(flags)
    resolved.apply_dotenv()
    sources = {s.name: s.source for s in resolved.settings}
    if sources["default"] == "default" and all(
        sources[role] == "same as default" for role in ("reflector", "skill_manager")
    ):
        raise CLIError(
            "ace claude-code learn: no model configured: pass --model, or run `ace setup` "
            "(or set ACE_MODEL)"
        )
    reflector = resolved.config.for_role("reflector")
    manager = resolved.config.for_role("skill_manager")
    models = {reflector.model, manager.model}
    if any(m.startswith((SCRIPTED_PREFIX, REPLAY_PREFIX)) for m in models):
        if len(models) != 1:
            raise CLIError(
                "ace claude-code learn: a scripted session serves both roles; use --model"
            )
        served = resolve(reflector.model, None)
        return (Reflector(served.model), SkillManager(served.model)), served.keep_alive
    reflector_settings, manager_settings = reflector.model_settings(), manager.model_settings()
    for model, settings in (
        (reflector.model, reflector_settings),
        (manager.model, manager_settings),
    ):
        if "api_key" not in settings:
            check_model(model)
    return (
        Reflector(reflector.model, model_settings=reflector_settings),
        SkillManager(manager.model, model_settings=manager_settings),
    ), ()
