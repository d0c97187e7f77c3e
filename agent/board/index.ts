/** The public request board: an append-only, signed log of requests, served to the public and relayed to doorbells. */
export { RequestBoard, type BoardOptions } from './board.js';
export { loadBoardKey, BOARD_KEY_FILE } from './board-key.js';
