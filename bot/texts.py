"""Everything the bot says, in Japanese and English, overridable by the admin.

`TEXTS_FILE` may point to a YAML file mapping a text's name to its languages, e.g.::

    fallback:
      ja: 申し訳ありません、その質問にはお答えできません。
      en: Sorry, I don't know the answer to that.

Texts are `str.format` templates; the placeholders each one may use are listed below.
"""

from __future__ import annotations

from pathlib import Path

import yaml

DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    # {shop}
    "greeting": {
        "ja": "こんにちは！{shop}のサポートです。ご質問をどうぞ。よくあるご質問はこちらです。",
        "en": "Hello! This is {shop} support. Ask me anything, or pick a common question.",
    },
    "suggest": {
        "ja": "こちらのご質問でしょうか？",
        "en": "Did you mean one of these?",
    },
    "fallback": {
        "ja": "申し訳ありません、お答えできる情報が見つかりませんでした。"
        "言い換えていただくか、担当者におつなぎします。",
        "en": "Sorry, I couldn't find an answer to that. "
        "Could you rephrase it, or shall I connect you to a person?",
    },
    "solved_question": {
        "ja": "この回答で解決しましたか？",
        "en": "Did this solve it?",
    },
    "solved_yes": {"ja": "解決した", "en": "Yes, solved"},
    "solved_no": {"ja": "解決しない", "en": "No"},
    "media_unsupported": {
        "ja": "申し訳ありません、画像やスタンプは読み取れません。文字でご質問ください。",
        "en": "Sorry, I can't read images or stickers. Please type your question.",
    },
    "talk_to_human": {"ja": "担当者と話す", "en": "Talk to a person"},
    "none_of_these": {"ja": "どれでもない", "en": "None of these"},
    # {code}, {minutes}
    "link_code": {
        "ja": "連携コード: {code}\nもう一方のチャネル（Webチャットなど）でこのコードを入力すると、"
        "会話が引き継がれます。有効期限は{minutes}分、一度だけ使えます。",
        "en": "Your link code: {code}\nEnter it on your other channel (the web chat, say) to "
        "continue the conversation there. It works once, for {minutes} minutes.",
    },
    # what the transcript keeps instead of the code itself; {minutes}
    "link_code_issued": {
        "ja": "（連携コードを発行しました。有効期限{minutes}分）",
        "en": "(A link code was issued, valid for {minutes} minutes.)",
    },
    "link_done": {
        "ja": "連携しました。これまでの会話の続きをこちらでどうぞ。",
        "en": "Linked. You can carry on the conversation here.",
    },
    "link_wrong_code": {
        "ja": "このコードは無効か期限切れです。もう一度お確かめください。",
        "en": "That code is not valid or has expired. Please check it and try again.",
    },
    "link_locked": {
        "ja": "間違ったコードが続いたため、しばらく連携できません。時間をおいてお試しください。",
        "en": "Too many wrong codes. Please try linking again later.",
    },
    "link_too_many_codes": {
        "ja": "連携コードの発行が続いたため、しばらくお待ちください。",
        "en": "You've asked for several codes already. Please wait a little.",
    },
    "link_own_code": {
        "ja": "このコードはもう一方のチャネルで入力してください。",
        "en": "Enter this code on your other channel, not here.",
    },
    # {reason}
    "link_refused": {
        "ja": "連携できませんでした（{reason}）。",
        "en": "Couldn't link: {reason}.",
    },
    "unlink_done": {
        "ja": "連携を解除しました。",
        "en": "Unlinked. This channel is on its own again.",
    },
    "unlink_none": {
        "ja": "連携しているアカウントはありません。",
        "en": "This channel is not linked to another one.",
    },
    # {position}, {wait}
    "handoff_queued": {
        "ja": "担当者におつなぎします。現在{position}番目にお待ちです（{wait}）。"
        "このままメッセージを送っていただければ担当者に伝わります。"
        "「キャンセル」でボットに戻ります。",
        "en": "I'm connecting you to a person. You are number {position} in line "
        "({wait}). Anything you write now goes to them. "
        "Type 'cancel' to go back to the bot.",
    },
    # {when}
    "handoff_after_hours": {
        "ja": "ただいま営業時間外です。{when}以降に担当者からご返信します。"
        "ご用件をこのままお送りください。「キャンセル」でボットに戻ります。",
        "en": "We're outside business hours right now. A person will reply from {when}. "
        "Leave your message here. Type 'cancel' to go back to the bot.",
    },
    "handoff_no_agent": {
        "ja": "お待たせしてしまい申し訳ありません。ただいま担当者がつながりにくい状況です。"
        "ご用件をメッセージで残していただければ、担当者から必ずご返信します。",
        "en": "Sorry for the wait: no one is free right now. Leave your message here and "
        "a person will get back to you.",
    },
    "handoff_queue_full": {
        "ja": "申し訳ありません、ただいまお問い合わせが集中しており、担当者へおつなぎできません。"
        "しばらくしてからもう一度お試しください。ボットへのご質問はこのまま続けられます。",
        "en": "Sorry, too many people are waiting for a person right now, so I can't add you "
        "to the line. Please try again a little later; you can keep asking me meanwhile.",
    },
    "handoff_too_many": {
        "ja": "申し訳ありません、この接続元からの担当者へのお取り次ぎが多すぎます。"
        "1時間ほどしてからもう一度お試しください。ボットへのご質問はこのまま続けられます。",
        "en": "Sorry, too many requests for a person have come from your connection. "
        "Please try again in an hour or so; you can keep asking me meanwhile.",
    },
    "handoff_cancelled": {
        "ja": "担当者への接続をキャンセルしました。ほかにご質問があればどうぞ。",
        "en": "OK, I've cancelled the request for a person. Ask me anything else.",
    },
    "handoff_added": {
        "ja": "メッセージを担当者に伝えます。もうしばらくお待ちください。",
        "en": "I've passed that on. A person will be with you shortly.",
    },
    "agent_joined": {
        "ja": "担当の{agent}がご対応します。",
        "en": "{agent} is here to help you.",
    },
    "agent_left": {
        "ja": "担当者との会話が終わりました。ほかにご質問があればどうぞ。",
        "en": "The person has left the conversation. Ask me anything else.",
    },
    "back_to_bot": {
        "ja": "担当者との会話を終えて、ボットに戻りました。ほかにご質問があればどうぞ。",
        "en": "You've left the person and are back with the bot. Ask me anything else.",
    },
    "faq_menu": {
        "ja": "よくあるご質問です。知りたいものを選んでください。",
        "en": "Common questions: pick the one you want to know about.",
    },
    # {agent}
    "status_with_agent": {
        "ja": "担当の{agent}がご対応中です。このままメッセージをお送りください。",
        "en": "{agent} is with you now. Just write here.",
    },
    "status_not_waiting": {
        "ja": "いまは担当者をお待ちではありません。担当者と話したいときはボタンを押してください。",
        "en": "You're not waiting for a person right now. Tap the button to talk to one.",
    },
    # The labels of the LINE rich menus (drawn into their images by `tsunagu line rich-menu
    # setup`, in Japanese) and the text of their chat bars (at most 14 characters).
    "menu_talk_to_human": {"ja": "人と話す", "en": "Talk to a person"},
    "menu_back_to_bot": {"ja": "ボットに戻る", "en": "Back to the bot"},
    "menu_queue_status": {"ja": "待ち状況", "en": "My place in line"},
    "menu_faq": {"ja": "よくある質問", "en": "Common questions"},
    "menu_bar_bot": {"ja": "メニュー", "en": "Menu"},
    "menu_bar_person": {"ja": "担当者とお話し中", "en": "With a person"},
    "wait_minutes": {"ja": "目安：約{minutes}分", "en": "about {minutes} min wait"},
    "wait_unknown": {"ja": "まもなくおつなぎします", "en": "someone will be with you soon"},
    # {agent}
    "follow_up_notice": {
        "ja": "先ほどはご不便をおかけし申し訳ありませんでした。担当の{agent}よりご連絡いたします。",
        "en": "We're sorry the last conversation wasn't easy. {agent} from our team "
        "would like to follow up.",
    },
    "agent_released": {
        "ja": "担当者が交代します。順番はそのままで、もう少しお待ちください。",
        "en": "Another person will take over. You keep your place in line.",
    },
    # {shop}
    "survey_ces": {
        "ja": "最後にひとつだけ。「今回の用件は、簡単に解決できた」にどのくらい当てはまりますか？",
        "en": 'One last thing: how much do you agree with "{shop} made it easy for me '
        'to handle my issue"?',
    },
    "survey_ces_low": {"ja": "まったくそう思わない", "en": "Strongly disagree"},
    "survey_ces_high": {"ja": "とてもそう思う", "en": "Strongly agree"},
    "survey_csat": {
        "ja": "今回のサポートの満足度を教えてください。",
        "en": "How satisfied are you with the support you got?",
    },
    "survey_csat_low": {"ja": "不満", "en": "Very unsatisfied"},
    "survey_csat_high": {"ja": "満足", "en": "Very satisfied"},
    # {shop}
    "survey_nps": {
        "ja": "{shop}を友人や知人にすすめる可能性はどのくらいありますか？",
        "en": "How likely are you to recommend {shop} to a friend?",
    },
    "survey_nps_low": {"ja": "まったくない", "en": "Not likely"},
    "survey_nps_high": {"ja": "非常に高い", "en": "Very likely"},
    "survey_comment": {
        "ja": "ご不便をおかけしました。差し支えなければ、大変だった点を教えてください。",
        "en": "Sorry it wasn't easy. If you don't mind, what made it hard?",
    },
    "survey_skip_comment": {"ja": "スキップ", "en": "Skip"},
    "survey_thanks": {
        "ja": "ご回答ありがとうございました！またいつでもどうぞ。",
        "en": "Thank you for your feedback! We're here whenever you need us.",
    },
    "goodbye": {
        "ja": "ご利用ありがとうございました！",
        "en": "Thanks for reaching out!",
    },
    # The help center's pages ({shop} everywhere; {query} where a search is named).
    "help_title": {"ja": "{shop} ヘルプセンター", "en": "{shop} Help Center"},
    "help_intro": {
        "ja": "よくあるご質問と回答をまとめています。キーワードや質問文で検索できます。",
        "en": "Answers to the questions customers ask most. Search with a few words or a "
        "whole question.",
    },
    "help_search_label": {"ja": "ヘルプセンターを検索", "en": "Search the help center"},
    "help_search_placeholder": {"ja": "例：送料はいくら？", "en": "e.g. How much is shipping?"},
    "help_search_button": {"ja": "検索", "en": "Search"},
    "help_popular": {"ja": "よく見られている質問", "en": "Popular questions"},
    "help_topics": {"ja": "カテゴリ別の質問", "en": "Questions by topic"},
    "help_results": {"ja": "「{query}」の検索結果", "en": "Results for “{query}”"},
    "help_did_you_mean": {
        "ja": "「{query}」に近い質問です。もしかして、こちらでしょうか？",
        "en": "Not sure what “{query}” is about. Did you mean one of these?",
    },
    "help_no_results": {
        "ja": "「{query}」に合う記事は見つかりませんでした。言い換えて検索するか、"
        "チャットでお尋ねください。",
        "en": "No article matches “{query}”. Try other words, or ask us in the chat.",
    },
    "help_ask_bot": {"ja": "チャットで質問する", "en": "Ask in the chat"},
    "help_ask_person": {"ja": "スタッフに相談する", "en": "Talk to a person"},
    "help_ask_person_message": {"ja": "人と話したい", "en": "I want to talk to a human"},
    "help_back": {"ja": "ヘルプセンター トップ", "en": "Help Center home"},
    "help_skip": {"ja": "本文へ移動", "en": "Skip to content"},
    "help_breadcrumb": {"ja": "現在位置", "en": "You are here"},
    "help_other_language": {"ja": "English", "en": "日本語"},
    "help_related": {"ja": "関連する質問", "en": "Related questions"},
    "help_still_stuck": {
        "ja": "解決しない場合は、チャットでお気軽にお問い合わせください。",
        "en": "Still stuck? Ask us in the chat.",
    },
    "help_feedback_question": {"ja": "この記事で解決しましたか？", "en": "Did this article help?"},
    "help_feedback_yes": {"ja": "はい", "en": "Yes"},
    "help_feedback_no": {"ja": "いいえ", "en": "No"},
    "help_feedback_comment": {
        "ja": "よろしければ、足りなかった情報を教えてください（任意）。",
        "en": "What was missing? Tell us if you like (optional).",
    },
    "help_feedback_send": {"ja": "送信", "en": "Send"},
    "help_feedback_thanks": {
        "ja": "ご協力ありがとうございました。いただいたご意見は記事の改善に役立てます。",
        "en": "Thank you. Your answer helps us improve this article.",
    },
    "help_feedback_failed": {
        "ja": "送信できませんでした。少し時間をおいてもう一度お試しください。",
        "en": "That didn't go through. Please try again in a moment.",
    },
    "help_not_found": {
        "ja": "お探しの記事は見つかりませんでした。移動または削除された可能性があります。",
        "en": "We couldn't find that article. It may have moved or been removed.",
    },
    # Topic names of the help center's index: help_tag_<tag> for each FAQ tag (others show
    # the tag itself); TEXTS_FILE may add any help_tag_… name.
    "help_tag_shipping": {"ja": "配送・送料", "en": "Shipping"},
    "help_tag_order": {"ja": "ご注文", "en": "Orders"},
    "help_tag_product": {"ja": "商品", "en": "Products"},
    "help_tag_returns": {"ja": "返品・交換", "en": "Returns and exchanges"},
    "help_tag_payment": {"ja": "お支払い", "en": "Payment"},
    "help_tag_account": {"ja": "会員登録・アカウント", "en": "Your account"},
    "help_tag_points": {"ja": "ポイント", "en": "Points"},
    "help_tag_store": {"ja": "店舗", "en": "Our shop"},
    "help_tag_support": {"ja": "お問い合わせ", "en": "Contact"},
    "help_tag_": {"ja": "その他", "en": "Other questions"},
}

HELP_TAG_PREFIX = "help_tag_"

LANGUAGES = ("ja", "en")


def language_of(locale: str | None) -> str:
    """'ja' or 'en' for a BCP 47 locale such as 'ja-JP' or 'en_US' (Japanese by default)."""
    if locale:
        base = locale.replace("_", "-").split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return "ja"


class Texts:
    """The bot's texts, defaults overlaid with the admin's file."""

    def __init__(self, overrides: dict[str, dict[str, str]] | None = None, *, shop: str = ""):
        self._texts = {name: dict(langs) for name, langs in DEFAULT_TEXTS.items()}
        for name, langs in (overrides or {}).items():
            self._texts.setdefault(name, {}).update(langs)
        self._shop = shop

    @classmethod
    def from_file(cls, path: Path | None, *, shop: str) -> Texts:
        """Load overrides from a YAML file (or use the defaults when `path` is None)."""
        if path is None:
            return cls(shop=shop)
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        if not isinstance(data, dict) or not all(
            isinstance(langs, dict) for langs in data.values()
        ):
            raise ValueError(f"{path}: expected a mapping of text name to {{ja: ..., en: ...}}")
        unknown = sorted(
            name
            for name in set(data) - set(DEFAULT_TEXTS)
            if not str(name).startswith(HELP_TAG_PREFIX)
        )
        if unknown:
            raise ValueError(f"{path}: unknown text names: {', '.join(unknown)}")
        return cls(
            {str(k): {str(lk): str(lv) for lk, lv in v.items()} for k, v in data.items()}, shop=shop
        )

    def has(self, name: str) -> bool:
        """Whether a text of this name exists (defaults or the admin's file)."""
        return name in self._texts

    def get(self, name: str, language: str, **values: object) -> str:
        """The text `name` in `language` (falling back to Japanese), filled with `values`."""
        langs = self._texts[name]
        template = langs.get(language) or langs.get("ja") or next(iter(langs.values()))
        return template.format(shop=self._shop, **values)
