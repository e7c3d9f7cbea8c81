"""The LLM client: one OpenAI-compatible chat client with the legato retry policy.

:mod:`agents.llm.client` holds :class:`LLMClient`, :mod:`agents.llm.types` what a call
is given and returns, :mod:`agents.llm.wire` how responses are read. Import from here.
"""

from agents.llm.client import LLMClient
from agents.llm.types import ChatResult, LLMError, LLMProfile, Usage
from agents.retry import RetryInfo

__all__ = [
    "ChatResult",
    "LLMClient",
    "LLMError",
    "LLMProfile",
    "RetryInfo",
    "Usage",
]
