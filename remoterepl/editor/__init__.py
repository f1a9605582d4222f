"""The interactive line editor: the only package that imports prompt_toolkit, Pygments or
platformdirs.

:class:`~remoterepl.editor.frontend.FrontEnd` wires the parts, each in its own module:
the terminal output device, remote stream routing, the prompt and its accept logic, the
painter that prints output above the prompt, the toolbar and link health, history,
completion, highlighting, secret prompts, the recording and the config file.
"""
