#!/usr/bin/env node
// The bin: runs the command and exits with its code (the command itself lives in cli.ts).
import { main } from "./cli.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
