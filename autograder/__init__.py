"""llmcourse's grader: build, grading harness, CLI, nbgrader and otter bridges (docs/ARCHITECTURE.md).

Importing the package keeps jsonschema from compiling IRI grammars in this process. nbformat,
nbgrader and otter import jsonschema; where ``rfc3987_syntax`` is installed (jupyter-events asks
for ``jsonschema[format-nongpl]``, which pulls it in), jsonschema imports it to check the "iri"
string format, and it compiles 38 Lark grammars when imported: ~1.5 s of CPU in every process that
reads a notebook (``python -c "import nbformat"``: 1.80 s with it, 0.18 s without). No notebook,
nbgrader or otter schema uses that format. Marked absent before jsonschema is first imported, the
import fails fast with the ImportError jsonschema expects, and it has no "iri" checker; nothing
else changes. The tools we start (nbgrader, otter) get the same through ``autograder.run_tool``.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)
