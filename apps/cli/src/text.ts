/**
 * `text` wrapped at word boundaries to lines of `width` columns, continuation lines indented by
 * `indent` (the first line's own indent is the caller's); at least 40 columns of text a line.
 */
export function wrapText(text: string, indent: number, width = 100): string {
  const room = Math.max(40, width - indent);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}
