// The code blocks of a README, as modules: what readme-blocks.test.ts type-checks and what the
// release test runs. A fragment that needs names from around it states them in an HTML comment
// just before its fence, invisible on the rendered page:
//   <!-- readme-check prelude: import type { LogStream } from "@tailwire/requester"; declare const stream: LogStream; -->
const CODE_FENCE = /^```(ts|typescript|js|javascript|mjs|mts)\s*$/;
const PRELUDE = /^<!-- readme-check prelude: (.*) -->\s*$/;

export interface ReadmeBlock {
  /** "packages/requester/README.md:30" */
  where: string;
  /** The module's file name: one per block, named after the README and line. */
  file: string;
  source: string;
}

/** The code blocks of a README, each with its prelude (if any) and where it starts. */
export function readmeBlocks(readme: string, name: string): ReadmeBlock[] {
  const lines = readme.split("\n");
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = CODE_FENCE.exec(lines[i]!);
    if (!fence) continue;
    const prelude = PRELUDE.exec(lines[i - 1] ?? "")?.[1] ?? "";
    const end = lines.findIndex((line, j) => j > i && line.startsWith("```"));
    if (end < 0) throw new Error(`${name}:${i + 1}: unterminated code block`);
    const js = ["js", "javascript", "mjs"].includes(fence[1]!);
    const slug = name.replace(/[^a-z0-9]+/gi, "-");
    blocks.push({
      where: `${name}:${i + 1}`,
      file: `${slug}-${i + 1}.${js ? "mjs" : "mts"}`,
      // `export {}` keeps every block a module even when it imports nothing.
      source: `${prelude}\n${lines.slice(i + 1, end).join("\n")}\nexport {};\n`,
    });
    i = end;
  }
  return blocks;
}
