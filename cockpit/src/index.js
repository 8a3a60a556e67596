import "./index.css";
import { connect } from "./model.js";
import { followTheme } from "./theme.js";
import { createView } from "./view.js";

followTheme();
let view = null;
const model = connect(() => view && view.redraw());
view = createView(document.getElementById("app"), model);
view.redraw();
