"""User-facing strings in English and Simplified Chinese, picked by the user's locale.

One catalog: the core's section lives here, and each adapter extends it with a section of its
own (`CORE.extend(...)`), so every sentence is looked up the same way, with English as the
fallback. Every key exists in every language (a test checks each section); placeholders use
`str.format` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

EN = "en"
ZH = "zh-Hans"
LANGUAGES = (EN, ZH)


@dataclass(frozen=True, slots=True)
class Plural:
    """A message worded by a count: CLDR plural categories ("one", "other").

    English needs "one" and "other"; Chinese has no grammatical plural, so its entries stay
    plain strings. `count` names the parameter that picks the form.
    """

    count: str
    other: str
    one: str | None = None

    def pick(self, language: str, params: dict[str, object]) -> str:
        """The form for this language and count."""
        n = params.get(self.count)
        if self.one is not None and language == EN and n == 1:
            return self.one
        return self.other


Entries = Mapping[str, Mapping[str, str | Plural]]  # language -> key -> template

_CORE: dict[str, dict[str, str | Plural]] = {
    EN: {
        "queued": "You are number {position} in the queue.",
        "done_note_first_frame": "Used the first frame of the animation.",
        "done_note_still_frame": "I used a still frame of your GIF.",
        "done_note_images_used": Plural(
            "limit",
            one="The model takes {limit} image at most: used {used} of {given}.",
            other="The model takes {limit} images at most: used {used} of {given}.",
        ),
        "done_note_rebased": "Long edit history: the model saw the original, the current image "
        "and a summary of earlier edits.",
        "text_only": "The model answered without an image:\n{text}",
        "need_instruction": "Tell me what to change: send an instruction with the picture.",
        "need_image_or_text": "Send a picture with an instruction, or describe the image "
        "you want.",
        "need_image": "There is no picture to edit: send one with your instruction, or reply "
        "to one with it.",
        "held_images": "Got your picture. Now tell me what to do with it.",
        "new_session": "Started fresh. Send a picture with an instruction, or a description.",
        "prompt_too_long": "That instruction is too long ({length} characters; the limit is "
        "{limit}). Please shorten it.",
        "file_too_large": "That file is too large ({size_mb:.1f} MB; "
        "the limit is {limit_mb:.0f} MB).",
        "download_failed": "I could not download your file. Please send it again.",
        "image_empty": "That file is empty.",
        "image_not_an_image": "That file is not an image I can read. Send a JPEG, PNG, WebP, "
        "GIF or HEIC picture.",
        "image_unsupported_format": "That image format is not supported. Send a JPEG, PNG, WebP, "
        "GIF or HEIC picture.",
        "image_corrupt": "That image is damaged or incomplete. Please send it again.",
        "image_too_many_pixels": "That image is too large in pixels to process safely.",
        "image_too_large": "That image file is too large.",
        "image_bad_dimensions": "That image has an unusable shape (too thin or empty).",
        "access_denied": "Sorry, you are not allowed to use this bot here.",
        "blocked_safety": "Gemini refused this request for safety reasons ({reason}). Try "
        "rephrasing it.",
        "blocked_no_image": "Gemini did not produce an image this time ({reason}). Try again or "
        "rephrase the instruction.",
        "rate_limited": "Gemini is busy (rate limit). Please try again in a moment.",
        "rate_limited_wait": "Gemini is busy (rate limit). Please try again in {seconds} seconds.",
        "model_unavailable": "Gemini is unavailable right now. Please try again shortly.",
        "model_timeout": "Gemini took too long to answer. Please try again.",
        "model_not_found": "The model {model} does not exist (any more). The bot owner needs to "
        "change gemini.model in the config.",
        "model_rejected": "Gemini rejected the request: {detail}",
        "internal_error": "Something went wrong on my side. Your message is saved; please try "
        "again.",
        "interrupted": "I was restarted while working on this. Press Retry to run it again.",
        "unknown_result": "I no longer know that image. Send it again with your instruction.",
        "original_caption": "Original, lossless.",
        "bad_setting": "{value} is not a valid choice for {setting}.",
        "setting_aspect_ratio": "Aspect ratio",
        "setting_image_size": "Size",
        "setting_model": "Model",
        "setting_language": "Language",
        "setting_previews": "Previews",
        "setting_search": "Search",
        "setting_default": "default",
        "setting_reset": "default (reset)",
        "quota_user": Plural(
            "limit",
            one="You have used your {limit} image for today. More in {hours} h {minutes} min.",
            other="You have used your {limit} images for today. More in {hours} h {minutes} min.",
        ),
        "quota_chat": Plural(
            "limit",
            one="This chat has used its {limit} image for today. More in {hours} h {minutes} min.",
            other="This chat has used its {limit} images for today. More in {hours} h "
            "{minutes} min.",
        ),
        "quota_fewer_left": "That needs {wanted} images; there are {left} left for today.",
        "quota_cost_user": "That would go over your budget of ${budget} for today. More in "
        "{hours} h {minutes} min.",
        "quota_cost_chat": "That would go over this chat's budget of ${budget} for today. More "
        "in {hours} h {minutes} min.",
        "quota_inflight": Plural(
            "limit",
            one="You already have {limit} request running. Please wait for it.",
            other="You already have {limit} requests running. Please wait for them.",
        ),
        "usage_user": Plural(
            "limit",
            one="Today you made {used} of {limit} image ({tokens} tokens).",
            other="Today you made {used} of {limit} images ({tokens} tokens).",
        ),
        "usage_user_free": Plural(
            "used",
            one="Today you made {used} image ({tokens} tokens).",
            other="Today you made {used} images ({tokens} tokens).",
        ),
        "usage_pool": Plural(
            "limit",
            one="This chat: {used} of {limit} image.",
            other="This chat: {used} of {limit} images.",
        ),
        "usage_cost": "Estimated cost today: ${mine} yours, ${chat} this chat's.",
        "usage_resets": "The day resets in {hours} h {minutes} min (midnight UTC).",
        "forget_confirm": "Delete everything you sent me and every image made for you? "
        "Other people's edits keep working. This cannot be undone.",
        "forget_button": "Delete my data",
        "forget_done": Plural(
            "count", one="Done: {count} turn deleted.", other="Done: {count} turns deleted."
        ),
        "not_your_button": "This button is for the person who asked.",
        "button_expired": "This button is no longer active.",
        "retry_button": "Retry",
        "stop_button": "Stop",
        "zoom_out_button": "Zoom out",
        "upscale_button": "Upscale",
        "reframe_button": "Reframe",
        "variations_button": "Variations",
        "info_button": "Info",
        "info_needs_result": "I found no result of mine there. Reply to one of my pictures with "
        "/info, or give /info its message link.",
        "info": "Model: {model}\nSize: {size} · Aspect ratio: {ratio}\nTook {seconds} s\n"
        "Tokens: {prompt} in, {output} out\nEstimated cost: ${cost}\n"
        "Edit {depth} of its lineage\nInstruction: {instruction}",
        "reference_unknown": "I don't know #{name}, so I sent nothing. /ref lists the "
        "references you can use here.",
        "reference_unknown_close": "I don't know #{name}, so I sent nothing. Did you mean "
        "{names}?",
        "references_over_limit": "The model takes {limit} pictures at a time, and this edit "
        "needs {needed} ({referenced} of them from references). Only {limit} fit: leave out a "
        "reference or a picture.",
        "reference_bad_name": "\u201c{name}\u201d can't name a reference: use 1-32 letters, "
        "digits, _ or -.",
        "reference_reserved": "#{name} is taken by the bot (a /ref word or a built-in style): "
        "pick another name.",
        "reference_empty": "Nothing to save: a reference needs a picture or a style description.",
        "reference_not_yours": "#{name} was saved by someone else: only they, a chat admin or a "
        "bot admin can change it.",
        "reference_not_here": "There is no #{name} here.",
        "reference_chat_full": "This chat keeps at most {limit} references: delete one first.",
        "reference_user_full": "You can keep at most {limit} references: delete one first.",
        "reference_saved": "Saved #{name} for this chat: {what}. Put #{name} in any "
        "instruction to use it.",
        "reference_saved_personal": "Saved #{name} for you: {what}. Use #{name} in any chat, "
        "groups included.",
        "reference_pictures": Plural("count", one="{count} picture", other="{count} pictures"),
        "reference_pictures_and_style": Plural(
            "count", one="{count} picture and a style", other="{count} pictures and a style"
        ),
        "reference_style": "a style",
        "reference_trimmed": "A reference keeps {limit} pictures: I kept the first {limit}.",
        "reference_deleted": "Deleted #{name}.",
        "references_title": "References you can use here (put #name in an instruction):",
        "references_none": "No saved references here yet.",
        "reference_line": "#{name}: {prompt}",
        "reference_yours": "yours",
        "region_note": "Region edit: only the area you marked changed. Whole image shows the "
        "model's picture as it came.",
        "region_caption": "Marked area: {instruction}",
        "whole_image_button": "Whole image",
        "whole_image_text": "The model's whole picture, not blended into the original.",
        "history_needs_result": "I found no result of mine there. Reply to one of my pictures "
        "with /history, or give /history its message link.",
        "history_text": Plural(
            "edits",
            one="How this result came about: {edits} edit.",
            other="How this result came about: {edits} edits.",
        ),
        "history_cut": "Showing the last {shown} of {edits} edits.",
        "history_start": "Start",
        "history_no_picture": "No picture: the model answered in words",
        "history_picture_gone": "Picture deleted",
        "variations_text": "{count} variations. Press Use and a number to go on from that one.",
        "use_1_button": "Use 1",
        "use_2_button": "Use 2",
        "use_3_button": "Use 3",
        "use_4_button": "Use 4",
        "variation_failed": "Variation {number}: {reason}",
        "reframe_prompt": "Pick the new shape:",
        "cannot_do_that": "That is not possible for this image with the current model.",
        "stopped": "Stopped.",
        "stop_too_late": "That one had already finished.",
        "stop_not_yours": "Only the person who asked, or an admin of this chat, can stop it.",
        "draft": "Draft",
        "draft_with_line": "Draft: {line}",
        "sources": "Sources:",
        "original_button": "Original",
    },
    ZH: {
        "queued": "你排在第 {position} 位。",
        "done_note_first_frame": "已使用动图的第一帧。",
        "done_note_still_frame": "我使用了你的 GIF 中的一帧静态画面。",
        "done_note_images_used": "模型最多接受 {limit} 张图片：已使用 {given} 张中的 {used} 张。",
        "done_note_rebased": "编辑历史较长：模型看到的是原图、当前图片和之前编辑的摘要。",
        "text_only": "模型没有生成图片，而是回答：\n{text}",
        "need_instruction": "请告诉我要修改什么：随图片发送一条指令。",
        "need_image_or_text": "请发送图片并附上指令，或描述你想要的图片。",
        "need_image": "没有可编辑的图片：请发送图片并附上指令，或用指令回复一张图片。",
        "held_images": "收到图片。现在告诉我要怎么修改它。",
        "new_session": "已重新开始。发送图片和指令，或一段描述。",
        "prompt_too_long": "指令太长（{length} 个字符，上限 {limit}）。请缩短。",
        "file_too_large": "文件太大（{size_mb:.1f} MB，上限 {limit_mb:.0f} MB）。",
        "download_failed": "无法下载你的文件，请重新发送。",
        "image_empty": "文件是空的。",
        "image_not_an_image": "无法识别该文件为图片。请发送 JPEG、PNG、WebP、GIF 或 HEIC 图片。",
        "image_unsupported_format": "不支持该图片格式。请发送 JPEG、PNG、WebP、GIF 或 HEIC 图片。",
        "image_corrupt": "图片已损坏或不完整，请重新发送。",
        "image_too_many_pixels": "图片像素过多，无法安全处理。",
        "image_too_large": "图片文件太大。",
        "image_bad_dimensions": "图片尺寸不可用（过细或为空）。",
        "access_denied": "抱歉，你无权在此使用本机器人。",
        "blocked_safety": "出于安全原因，Gemini 拒绝了此请求（{reason}）。请换个说法。",
        "blocked_no_image": "Gemini 这次没有生成图片（{reason}）。请重试或换个说法。",
        "rate_limited": "Gemini 繁忙（速率限制）。请稍后再试。",
        "rate_limited_wait": "Gemini 繁忙（速率限制）。请在 {seconds} 秒后再试。",
        "model_unavailable": "Gemini 暂时不可用，请稍后再试。",
        "model_timeout": "Gemini 响应超时，请重试。",
        "model_not_found": "模型 {model} 不存在（或已下线）。"
        "需要机器人管理员修改配置中的 gemini.model。",
        "model_rejected": "Gemini 拒绝了请求：{detail}",
        "internal_error": "我这边出了点问题。你的消息已保存，请重试。",
        "interrupted": "处理期间我被重启了。点“重试”重新生成。",
        "unknown_result": "我已经找不到那张图片了。请重新发送图片和指令。",
        "original_caption": "原图（无损）。",
        "bad_setting": "{value} 不是“{setting}”的有效选项。",
        "setting_aspect_ratio": "宽高比",
        "setting_image_size": "尺寸",
        "setting_model": "模型",
        "setting_language": "语言",
        "setting_previews": "预览",
        "setting_search": "搜索",
        "setting_default": "默认",
        "setting_reset": "默认（重置）",
        "quota_user": "你今天的 {limit} 张图片额度已用完。{hours} 小时 {minutes} 分钟后恢复。",
        "quota_chat": "本聊天今天的 {limit} 张图片额度已用完。{hours} 小时 {minutes} 分钟后恢复。",
        "quota_inflight": "你已有 {limit} 个请求正在处理，请稍候。",
        "quota_fewer_left": "这需要 {wanted} 张图片，今天只剩 {left} 张。",
        "quota_cost_user": "这会超出你今天 ${budget} 的预算。{hours} 小时 {minutes} 分钟后恢复。",
        "quota_cost_chat": "这会超出本聊天今天 ${budget} 的预算。"
        "{hours} 小时 {minutes} 分钟后恢复。",
        "usage_user": "你今天生成了 {used}/{limit} 张图片（{tokens} 个 token）。",
        "usage_user_free": "你今天生成了 {used} 张图片（{tokens} 个 token）。",
        "usage_pool": "本聊天：{used}/{limit} 张图片。",
        "usage_cost": "今日估算费用：你 ${mine}，本聊天 ${chat}。",
        "usage_resets": "额度将在 {hours} 小时 {minutes} 分钟后重置（UTC 午夜）。",
        "forget_confirm": "删除你发给我的所有内容以及为你生成的所有图片？"
        "他人的编辑不受影响。此操作无法撤销。",
        "forget_button": "删除我的数据",
        "forget_done": "完成：已删除 {count} 个回合。",
        "not_your_button": "这个按钮属于发起请求的人。",
        "button_expired": "这个按钮已失效。",
        "retry_button": "重试",
        "stop_button": "停止",
        "zoom_out_button": "缩小视野",
        "upscale_button": "高清放大",
        "reframe_button": "改变画幅",
        "variations_button": "变体",
        "info_button": "信息",
        "info_needs_result": "那里没有我生成的结果。请回复我生成的图片并发送 /info，"
        "或在 /info 中提供该消息的链接。",
        "info": "模型：{model}\n尺寸：{size} · 宽高比：{ratio}\n耗时 {seconds} 秒\n"
        "Token：输入 {prompt}，输出 {output}\n估算费用：${cost}\n"
        "这条编辑链的第 {depth} 步\n指令：{instruction}",
        "reference_unknown": "我不认识 #{name}，所以什么都没发送。/ref 会列出这里可用的参考。",
        "reference_unknown_close": "我不认识 #{name}，所以什么都没发送。你是指 {names} 吗？",
        "references_over_limit": "模型一次最多接受 {limit} 张图片，而这次编辑需要 {needed} 张"
        "（其中 {referenced} 张来自参考）。只能放下 {limit} 张：请去掉一个参考或一张图片。",
        "reference_bad_name": "“{name}”不能作为参考名：请使用 1 到 32 个字母、数字、_ 或 -。",
        "reference_reserved": "#{name} 已被机器人占用（/ref 的命令词或内置风格）：请换个名字。",
        "reference_empty": "没有可保存的内容：参考需要一张图片或一段风格描述。",
        "reference_not_yours": "#{name} 是别人保存的："
        "只有保存者、群管理员或机器人管理员可以修改。",
        "reference_not_here": "这里没有 #{name}。",
        "reference_chat_full": "本聊天最多保存 {limit} 个参考：请先删除一个。",
        "reference_user_full": "你最多保存 {limit} 个参考：请先删除一个。",
        "reference_saved": "已为本聊天保存 #{name}：{what}。在任何指令中写上 #{name} 即可使用。",
        "reference_saved_personal": "已为你保存 #{name}：{what}。"
        "在任何聊天（包括群组）中都能用 #{name}。",
        "reference_pictures": "{count} 张图片",
        "reference_pictures_and_style": "{count} 张图片和一段风格",
        "reference_style": "一段风格",
        "reference_trimmed": "一个参考最多保存 {limit} 张图片：我保留了前 {limit} 张。",
        "reference_deleted": "已删除 #{name}。",
        "references_title": "这里可用的参考（在指令中写 #名字）：",
        "references_none": "这里还没有保存的参考。",
        "reference_line": "#{name}：{prompt}",
        "reference_yours": "你的",
        "region_note": "局部编辑：只改了你标记的区域。点“整张图”可查看模型原样生成的图片。",
        "region_caption": "标记区域：{instruction}",
        "whole_image_button": "整张图",
        "whole_image_text": "模型生成的整张图片，未与原图融合。",
        "history_needs_result": "那里没有我生成的结果。请回复我生成的图片并发送 /history，"
        "或在 /history 中提供该消息的链接。",
        "history_text": "这张结果的来历：共 {edits} 步编辑。",
        "history_cut": "共 {edits} 步，只显示最后 {shown} 步。",
        "history_start": "起点",
        "history_no_picture": "没有图片：模型只回复了文字",
        "history_picture_gone": "图片已删除",
        "variations_text": "{count} 个变体。按“用”和编号，即可从那一个继续。",
        "use_1_button": "用 1",
        "use_2_button": "用 2",
        "use_3_button": "用 3",
        "use_4_button": "用 4",
        "variation_failed": "变体 {number}：{reason}",
        "reframe_prompt": "选择新的画幅：",
        "cannot_do_that": "当前模型无法对这张图片这样做。",
        "stopped": "已停止。",
        "stop_too_late": "它已经完成了。",
        "stop_not_yours": "只有提出请求的人或本聊天的管理员才能停止它。",
        "draft": "草稿",
        "draft_with_line": "草稿：{line}",
        "sources": "来源：",
        "original_button": "原图",
    },
}


def language_for(locale: str | None) -> str:
    """Map a platform locale ("zh", "zh-CN", "zh-hans", "en-US" ...) to a catalog language."""
    if locale and locale.lower().replace("_", "-").startswith("zh"):
        return ZH
    return EN


class Catalog:
    """Templates by language and key; a section that extends another falls back to it."""

    def __init__(self, name: str, entries: Entries, base: Catalog | None = None) -> None:
        self.name = name
        self._entries = entries
        self._base = base

    def extend(self, name: str, entries: Entries) -> Catalog:
        """A section of its own (an adapter's) that also knows every key of this one."""
        return Catalog(name, entries, self)

    def text(self, key: str, locale: str | None, /, **params: object) -> str:
        """The message `key` in the user's language (else English), with `params` filled in."""
        language = language_for(locale)
        entry = self._entries[language].get(key) or self._entries[EN].get(key)
        if entry is None:
            if self._base is None:
                raise KeyError(f"no message {key!r} in the {self.name} catalog")
            return self._base.text(key, locale, **params)
        template = entry.pick(language, params) if isinstance(entry, Plural) else entry
        return template.format(**params) if params else template

    def keys(self, language: str) -> set[str]:
        """Keys this section defines for a language (for consistency tests)."""
        return set(self._entries.get(language, {}))


CORE = Catalog("core", _CORE)


def text(key: str, locale: str | None, /, **params: object) -> str:
    """The core message `key` in the user's language, with `params` filled in."""
    return CORE.text(key, locale, **params)


def catalog_keys(language: str) -> set[str]:
    """Keys the core defines for a language (for consistency tests)."""
    return CORE.keys(language)
