"""The language server editors talk to (pygls): options, the completion service, handlers and
the `guidecode.generate` command. It sits above the assistant; the monitors' own language-server
client is `assistant.analysis`."""
