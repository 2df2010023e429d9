"""The query detectors, one module each, behind :mod:`aiarmor.serving.pipeline.detect` (which
re-exports their public names): :mod:`.base` (the verdict, the protocol, bounded per-identity
state), :mod:`.blacklight`, :mod:`.prada`, :mod:`.stats` (Shapiro-Wilk), :mod:`.strip` (the
per-input STRIP detector) and :mod:`.build` (detectors from the configuration)."""
