/* Show a figure's alt text as its caption: a paragraph holding only ![caption](figure.png)
 * becomes <figure><img><figcaption>caption</figcaption></figure>. */
(function () {
  function captionFigures(root) {
    root.querySelectorAll("article p > img:only-child[alt]").forEach(function (img) {
      var paragraph = img.parentElement;
      if (!img.alt.trim() || paragraph.textContent.trim()) return;
      var figure = document.createElement("figure");
      figure.className = "forge-figure";
      var caption = document.createElement("figcaption");
      caption.textContent = img.alt;
      paragraph.replaceWith(figure);
      figure.appendChild(img);
      figure.appendChild(caption);
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function (page) { captionFigures(page.body || document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { captionFigures(document.body); });
  }
})();
