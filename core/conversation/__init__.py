"""The contribution conversation: ``step(state, event, context) -> StepResult``, no I/O."""

from core.conversation.model import (
    Audit,
    CardFile,
    CardInfo,
    ChoiceSet,
    ConversationState,
    FetchCard,
    Inbound,
    Part,
    Phase,
    Reply,
    StepContext,
    StepResult,
    StoreCard,
    Submit,
)
from core.conversation.step import step

__all__ = [
    "Audit", "CardFile", "CardInfo", "ChoiceSet", "ConversationState", "FetchCard", "Inbound",
    "Part", "Phase", "Reply", "StepContext", "StepResult", "StoreCard", "Submit", "step",
]
