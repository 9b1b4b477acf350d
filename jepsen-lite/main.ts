// Entry point of bin/jepsen-lite.
import { main } from './cli.js';

await main(process.argv);
