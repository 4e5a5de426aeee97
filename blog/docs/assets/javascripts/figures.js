/* Show a figure's alt text as its caption: a paragraph holding only ![caption](figure.png)
 * (bare, or wrapped in its lightbox link) becomes <figure><img><figcaption>caption</figcaption>
 * </figure>. forge's own figures are written as <figure> with a "Figure N:" caption already. */
(function () {
  function captionFigures(root) {
    root.querySelectorAll("article p > img:only-child[alt], article p > a.glightbox:only-child > img[alt]")
      .forEach(function (img) {
        var content = img.parentElement.tagName === "A" ? img.parentElement : img;
        var paragraph = content.parentElement;
        if (!img.alt.trim() || paragraph.textContent.trim()) return;
        var figure = document.createElement("figure");
        figure.className = "forge-figure";
        var caption = document.createElement("figcaption");
        caption.textContent = img.alt;
        paragraph.replaceWith(figure);
        figure.appendChild(content);
        figure.appendChild(caption);
      });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function (page) { captionFigures(page.body || document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { captionFigures(document.body); });
  }
})();
