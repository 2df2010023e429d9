"""Run Presidio's analyzer on cells read from stdin (JSON); runs inside the Presidio venv.

Input: ``{"cells": [[column, text], ...], "threshold": float}``. Output: ``{"found":
[[entity, ...], ...], "seconds": float, "version": str}`` with Presidio's entity types mapped
to ours. Presidio's default NLP engine needs a spaCy model download, so a blank English spaCy
pipeline stands in: Presidio's pattern, checksum and context recognisers all run; only the
NER-based ones (PERSON, LOCATION, NRP) are unavailable, and none of ours needs them.
The column name is passed as Presidio context words, as our scanner uses it.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
import sys
import time

_MAP = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "card",
    "IBAN_CODE": "iban", "US_SSN": "ssn", "UK_NINO": "nino", "IP_ADDRESS": "ip",
    "DATE_TIME": "dob",
}  # fmt: skip


def _analyzer():  # type: ignore[no-untyped-def]
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    # the bundled public-suffix snapshot, never a network fetch
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

    class BlankEngine(SpacyNlpEngine):
        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    engine = BlankEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


def main() -> None:
    logging.disable(logging.CRITICAL)
    request = json.load(sys.stdin)
    analyzer = _analyzer()
    wanted = list(_MAP)
    found = []
    t0 = time.perf_counter()
    for column, text in request["cells"]:
        words = [w for w in re.split(r"[^a-z0-9]+", column.lower()) if w]
        results = analyzer.analyze(text, language="en", entities=wanted, context=words,
                                   score_threshold=request["threshold"])  # fmt: skip
        found.append(sorted({_MAP[r.entity_type] for r in results}))
    seconds = time.perf_counter() - t0
    version = importlib.metadata.version("presidio-analyzer")
    json.dump({"found": found, "seconds": seconds, "version": version}, sys.stdout)


if __name__ == "__main__":
    main()
