// Page keys: Escape closes the open phone menu (a <details>, which browsers do not close
// on Escape) and returns focus to its button; in a lesson, "f" toggles focus mode and
// Escape leaves it.
// A same-origin file (the CSP allows script-src 'self'). An htmx trigger filter
// such as keyup[key=='f'] would need eval, which the CSP and htmx config forbid.
// The keys press the page's real focus-mode button, so the server does the work.
document.addEventListener("keydown", function (event) {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) {
    return;
  }
  if (event.key === "Escape") {
    var menu = document.querySelector("details.site-menu[open]");
    if (menu) {
      event.preventDefault();
      menu.open = false;
      menu.querySelector("summary").focus();
      return;
    }
  }
  var target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
    return;
  }
  var toggle = document.querySelector("button[data-focus-toggle]");
  if (!toggle) {
    return;
  }
  var inFocus = document.body.classList.contains("focus-mode");
  if (event.key === "f" || (event.key === "Escape" && inFocus)) {
    event.preventDefault();
    toggle.click();
  }
});
