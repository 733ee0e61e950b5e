"""Request values shared by the test modules of several apps."""

# The model's patch that turns the starter workflow's assistant into a pirate.
PIRATE_PATCH = """--- a/workflow.py
+++ b/workflow.py
@@ -6,3 +6,3 @@
     name="Assistant",
-    instructions="You are a helpful assistant. Answer clearly and briefly.",
+    instructions="You are a pirate assistant. Answer clearly and briefly.",
 )
"""

# JSON values of every other type: the string fields must refuse them, not turn them into text.
NOT_STRINGS = [123, 4.5, True, ["text"], {"text": "x"}]
