// "Listen from here": play the lesson's narration player from that section.
// A same-origin file (the CSP allows script-src 'self'). Without JavaScript the
// links still work: they open the audio file at that time (#t=SECONDS).
document.addEventListener("click", function (event) {
  if (event.defaultPrevented || event.button !== 0 || event.altKey || event.ctrlKey ||
      event.metaKey || event.shiftKey) {
    return;
  }
  var link = event.target.closest ? event.target.closest("a[data-listen-at]") : null;
  var player = document.querySelector("audio[data-narration-player]");
  if (!link || !player) {
    return;
  }
  var at = parseFloat(link.getAttribute("data-listen-at"));
  if (!isFinite(at) || at < 0) {
    return;
  }
  event.preventDefault();
  // Before the file is loaded this sets where playback will start.
  player.currentTime = at;
  var playing = player.play();
  if (playing && playing.catch) {
    playing.catch(function () {});
  }
});
