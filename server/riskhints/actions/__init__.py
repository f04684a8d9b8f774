"""Code actions as pure functions over source text and findings: quick fixes, suppressions
(and, later, the assumptions checklist, stress tests and the failure log). No LSP here."""
