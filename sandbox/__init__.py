"""Running untrusted candidate programs in isolation. (Filled by a later issue.)"""
