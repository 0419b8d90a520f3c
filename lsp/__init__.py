"""Both directions of the Language Server Protocol: the server editors talk to, and the client
through which monitors ask a language server about the workspace. (Filled by later issues.)"""
