"""The contribution conversation: ``step(state, event, context) -> StepResult``, no I/O."""

from core.conversation.model import (
    Answers,
    Audit,
    CardFile,
    CardInfo,
    ChoiceSet,
    ConsentAnswer,
    ConversationState,
    DomainAnswer,
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
    "Answers", "Audit", "CardFile", "CardInfo", "ChoiceSet", "ConsentAnswer",
    "ConversationState", "DomainAnswer", "FetchCard",
    "HoldForConfirmation", "Inbound",
    "Part", "Phase", "Relay", "Reply", "StepContext", "StepResult", "StoreCard", "Submit",
    "Withdraw", "step",
]
