"""Tools for when something is wrong: record a gateway for a bug report, and say what is wrong.

:mod:`~enphase_local.diagnostics.capture` reads every endpoint the library knows and writes the
replies, redacted, in the layout ``enphase-local simulate --replay`` serves
(:mod:`~enphase_local.diagnostics.layout`); :mod:`~enphase_local.diagnostics.redaction` finds
and replaces what identifies a site, and refuses output that still does.
:mod:`~enphase_local.diagnostics.doctor` checks a gateway step by step and says what to do.
The ``capture`` and ``doctor`` commands are thin shells over these modules.
"""
