"""Telegram adapter (python-telegram-bot): private chats, groups, topics, albums, buttons.

`bot.app` finds it through the `telegram` entry point (`adapters.telegram.plugin:plugin`); this
package imports nothing heavy, so loading the plugin does not import PTB.
"""
