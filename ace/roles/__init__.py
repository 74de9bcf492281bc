"""The three ACE roles: Agent answers, Reflector analyses, SkillManager updates."""

from ace.roles.agent import Agent
from ace.roles.reflector import Reflector, ReflectorMode
from ace.roles.skill_manager import SkillManager

__all__ = ["Agent", "Reflector", "ReflectorMode", "SkillManager"]
