"""The contribution conversation: ``step(state, event, context) -> StepResult``, no I/O."""

from core.conversation.model import (
    Audit,
    CardFile,
    CardInfo,
    ChoiceSet,
    ConversationState,
    FetchCard,
    HoldForConfirmation,
    Inbound,
    Part,
    Phase,
    Relay,
    Reply,
    StepContext,
    StepResult,
    StoreCard,
    Submit,
    Withdraw,
)
from core.conversation.step import step

__all__ = [
    "Audit", "CardFile", "CardInfo", "ChoiceSet", "ConversationState", "FetchCard",
    "HoldForConfirmation", "Inbound",
    "Part", "Phase", "Relay", "Reply", "StepContext", "StepResult", "StoreCard", "Submit",
    "Withdraw", "step",
]
