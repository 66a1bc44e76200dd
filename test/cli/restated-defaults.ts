// usage() adds each flag's "(default: X)" from where the default is defined; a parenthetical in
// the help that names X again is a second copy, which drifts from the first.

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The rows of a --help text ("--flag: help") whose help repeats, in parentheses, a value of its default. */
export function restatedDefaults(helpText: string): string[] {
  return helpText.split("\n").flatMap((line) => {
    const row = line.match(/^ {2}(--\S+)(?: \S+)? {2,}(.*) \(default: (.*)\)$/);
    if (!row) return [];
    const [, flag, help, shown] = row as unknown as [string, string, string, string];
    // "0; beyond: 5000": the reference preset's value, then another preset's.
    const values = shown.split("; ").map((part) => part.replace(/^\w+: /, ""));
    const repeats = values.some((value) =>
      new RegExp(`\\([^()]*(?<![\\w./$-])${literal(value)}(?![\\w./-])[^()]*\\)`).test(help),
    );
    return repeats ? [`${flag}: ${help}`] : [];
  });
}
