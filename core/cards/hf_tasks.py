"""Hugging Face task ids (the Hub's pipeline types) and their sub-task ids.

From ``PIPELINE_DATA`` in huggingface.js ``packages/tasks/src/pipelines.ts``, the
list the Hub validates ``task_categories`` against; sub-task ids belong in
``task_ids``, so a sub-task written as a category gets a pointed hint.
"""

from __future__ import annotations

TASK_SUBTASKS: dict[str, tuple[str, ...]] = {
    "biology": (),
    "text-classification": (
        "acceptability-classification", "entity-linking-classification", "fact-checking",
        "intent-classification", "language-identification", "multi-class-classification",
        "multi-label-classification", "multi-input-text-classification",
        "natural-language-inference", "semantic-similarity-classification",
        "sentiment-classification", "topic-classification", "semantic-similarity-scoring",
        "sentiment-scoring", "sentiment-analysis", "hate-speech-detection", "text-scoring"),
    "token-classification": (
        "named-entity-recognition", "part-of-speech", "parsing", "lemmatization",
        "word-sense-disambiguation", "coreference-resolution"),
    "table-question-answering": (),
    "question-answering": ("extractive-qa", "open-domain-qa", "closed-domain-qa"),
    "zero-shot-classification": (),
    "translation": (),
    "summarization": ("news-articles-summarization", "news-articles-headline-generation"),
    "feature-extraction": (),
    "text-generation": ("dialogue-modeling", "dialogue-generation", "conversational",
                        "language-modeling"),
    "text2text-generation": (
        "text-simplification", "explanation-generation", "abstractive-qa",
        "open-domain-abstractive-qa", "closed-domain-qa", "open-book-qa", "closed-book-qa"),
    "fill-mask": ("slot-filling", "masked-language-modeling"),
    "sentence-similarity": (),
    "text-to-speech": (),
    "text-to-audio": (),
    "automatic-speech-recognition": (),
    "audio-to-audio": (),
    "audio-classification": (
        "keyword-spotting", "speaker-identification", "audio-intent-classification",
        "audio-emotion-recognition", "audio-language-identification"),
    "audio-text-to-text": (),
    "voice-activity-detection": (),
    "depth-estimation": (),
    "image-classification": ("multi-label-image-classification",
                             "multi-class-image-classification"),
    "object-detection": ("face-detection", "vehicle-detection"),
    "image-segmentation": ("instance-segmentation", "semantic-segmentation",
                           "panoptic-segmentation"),
    "text-to-image": (),
    "image-to-text": ("image-captioning",),
    "image-to-image": ("image-inpainting", "image-colorization", "super-resolution"),
    "image-to-video": (),
    "unconditional-image-generation": (),
    "video-classification": (),
    "reinforcement-learning": (),
    "robotics": ("grasping", "task-planning"),
    "tabular-classification": ("tabular-multi-class-classification",
                               "tabular-multi-label-classification"),
    "tabular-regression": ("tabular-single-column-regression",),
    "tabular-to-text": ("rdf-to-text",),
    "table-to-text": (),
    "multiple-choice": ("multiple-choice-qa", "multiple-choice-coreference-resolution"),
    "text-ranking": (),
    "text-retrieval": ("document-retrieval", "utterance-retrieval",
                       "entity-linking-retrieval", "fact-checking-retrieval"),
    "time-series-forecasting": ("univariate-time-series-forecasting",
                                "multivariate-time-series-forecasting"),
    "text-to-video": (),
    "image-text-to-text": (),
    "visual-question-answering": ("visual-question-answering",),
    "document-question-answering": ("document-question-answering",),
    "zero-shot-image-classification": (),
    "graph-ml": (),
    "mask-generation": (),
    "zero-shot-object-detection": (),
    "text-to-3d": (),
    "image-to-3d": (),
    "image-feature-extraction": (),
    "video-text-to-text": (),
    "keypoint-detection": ("pose-estimation",),
    "visual-document-retrieval": (),
    "any-to-any": (),
    "other": (),
}

TASK_IDS: frozenset[str] = frozenset(TASK_SUBTASKS)
SUBTASK_PARENT: dict[str, str] = {
    sub: task for task, subs in TASK_SUBTASKS.items() for sub in subs if sub not in TASK_SUBTASKS
}

# Which of the form's modalities a task or a Hub tag points to, by the words in its id
# (image-to-text: images and text). First word of the form's label: text, images, audio,
# video, other (science data).
# Task categories of the older ``datasets`` taxonomy (2020-2022 cards) and the Hub ids
# that took their place, so a card that used them is told what to write today.
RENAMED_TASKS: dict[str, tuple[str, ...]] = {
    "sequence-modeling": ("text-generation", "fill-mask"),
    "conditional-text-generation": ("text2text-generation", "summarization", "translation"),
    "structure-prediction": ("token-classification",),
    "text-scoring": ("text-classification",),
    "speech-processing": ("automatic-speech-recognition", "text-to-speech"),
}

_MODALITY_WORDS: dict[str, str] = {
    "text": "text", "token": "text", "question": "text", "translation": "text",
    "summarization": "text", "fill": "text", "sentence": "text", "zero": "text",
    "multiple": "text", "document": "text", "conversational": "text",
    "image": "images", "object": "images", "depth": "images", "mask": "images",
    "keypoint": "images", "visual": "images", "3d": "other",
    "audio": "audio", "speech": "audio", "voice": "audio",
    "video": "video",
    "tabular": "other", "table": "other", "time": "other", "timeseries": "other",
    "graph": "other", "biology": "other", "robotics": "other", "geospatial": "other",
    "reinforcement": "other",
}
_TAG_PREFIX = "modality:"


def modality_keys(task_categories: list[str], tags: list[str]) -> list[str]:
    """Modality keys (``text``, ``images``...) that a card's tasks and ``modality:`` tags
    suggest; ``zero-shot-image-classification`` says images, not text."""
    found: list[str] = []
    ids = [t.casefold() for t in task_categories]
    ids += [t.casefold().removeprefix(_TAG_PREFIX) for t in tags
            if t.casefold().startswith(_TAG_PREFIX)]
    for task in ids:
        words = [w for w in task.replace("_", "-").split("-") if w]
        keys = [_MODALITY_WORDS[w] for w in words if w in _MODALITY_WORDS]
        if "zero" in words and len(keys) > 1:
            keys = keys[1:]
        for key in keys:
            if key not in found:
                found.append(key)
    return found
