// amfast's end-to-end NetConnection client, compiled to a SWF by Haxe and run in Ruffle.
//
// It calls the test server's "e2e" service over AMF (Ruffle always sends AMF0) and
// POSTs a JSON report of every item to /report: what it sent, how the call ended
// ("result" or "fault") and what came back, each value described by describe() so
// that pytest can compare them exactly (number bits as text, identity as references).
//
// Phases, each started when the previous one has all its answers:
//   battery  - e2e.echo(name, value) for values of every AMF0 type, all in one frame
//              (Ruffle batches the calls of a frame into one packet)
//   batch    - three e2e.batchSize calls in one frame: each sees a packet of 3
//   faults   - a raised exception, an unknown target, an unknown service
//   secure   - e2e.secret without credentials, with good and with wrong
//              Credentials headers, and an unknown header marked mustUnderstand
//   misc     - several arguments in one call, a date made by the server

import flash.events.Event;
import flash.events.IOErrorEvent;
import flash.events.NetStatusEvent;
import flash.events.SecurityErrorEvent;
import flash.net.NetConnection;
import flash.net.Responder;
import flash.net.URLLoader;
import flash.net.URLRequest;
import flash.net.URLRequestMethod;
import flash.utils.ByteArray;

class Point {
	public var x:Float;
	public var y:Float;

	public function new(x:Float = 0, y:Float = 0) {
		this.x = x;
		this.y = y;
	}
}

class Unregistered {
	public var label:String;

	public function new(label:String) {
		this.label = label;
	}
}

typedef Item = {
	var name:String;
	var sent:Dynamic;
	var outcome:String;
	var got:Dynamic;
};

typedef Call = {
	var name:String;
	var method:String;
	var sent:Dynamic;
	var args:Array<Dynamic>;
};

class Main {
	static var gateway:String;
	static var reportUrl:String;
	static var logUrl:String;
	static var items:Array<Item> = [];
	static var notes:Array<String> = [];
	static var pending:Int = 0;
	static var reported = false;

	static function main() {
		var params:Dynamic = flash.Lib.current.loaderInfo.parameters;
		var origin = originOf(flash.Lib.current.loaderInfo.url);
		gateway = params.gateway != null ? params.gateway : origin + "/amf?client=haxe";
		reportUrl = params.report != null ? params.report : origin + "/report?client=haxe";
		logUrl = params.log != null ? params.log : origin + "/log?client=haxe";
		untyped __global__["flash.net.registerClassAlias"]("e2e.Point", Point);
		note("haxe client started; gateway " + gateway);
		// A client that never finishes still reports what it has.
		haxe.Timer.delay(function() {
			note("timed out with " + pending + " calls unanswered");
			report();
		}, 60000);
		battery();
	}

	static function originOf(url:String):String {
		if (url == null) return "";
		var schemeEnd = url.indexOf("://");
		var slash = url.indexOf("/", schemeEnd + 3);
		return slash < 0 ? url : url.substr(0, slash);
	}

	// ------------------------------------------------------------------ phases

	static function connection(?headers:Array<Array<Dynamic>>):NetConnection {
		var nc = new NetConnection();
		nc.objectEncoding = 3; // Ruffle sends AMF0 regardless: the server must cope
		nc.addEventListener(NetStatusEvent.NET_STATUS, function(e:NetStatusEvent) {
			note("netStatus " + haxe.Json.stringify(describe(e.info)));
		});
		nc.addEventListener(IOErrorEvent.IO_ERROR, function(e:Event) note("ioError " + e));
		nc.addEventListener(SecurityErrorEvent.SECURITY_ERROR, function(e:Event) note("securityError " + e));
		nc.connect(gateway);
		if (headers != null)
			for (h in headers)
				nc.addHeader(h[0], h[1], h[2]);
		return nc;
	}

	static function record(name:String, sent:Dynamic, outcome:String, got:Dynamic) {
		items.push({name: name, sent: sent, outcome: outcome, got: got});
	}

	// Make every call of `calls` in this frame on one connection (Ruffle sends them as one
	// packet); then `next`.  When the packet fails as a whole (NetConnection.Call.Failed:
	// the server answered with an HTTP error), each unanswered call is made again alone,
	// so that one bad value shows as one failed item; `label`.packet records the packet's fate.
	static function batch(label:String, calls:Array<Call>, headers:Array<Array<Dynamic>>, next:Void->Void) {
		var nc = connection(headers);
		var unanswered = calls.copy();
		var finished = false;
		function finish(outcome:String, info:Dynamic) {
			if (finished) return;
			finished = true;
			if (label != null)
				record(label + ".packet", {t: "number", v: Std.string(calls.length)}, outcome, info);
			if (outcome == "result") {
				next();
			} else {
				note(label + ": packet failed; making its " + unanswered.length + " unanswered calls alone");
				alone(unanswered, headers, next);
			}
		}
		nc.addEventListener(NetStatusEvent.NET_STATUS, function(e:NetStatusEvent) {
			if (e.info.code == "NetConnection.Call.Failed")
				finish("callfailed", describe(e.info));
		});
		for (c in calls) {
			issue(nc, c, function(outcome:String, got:Dynamic) {
				if (finished) return;
				unanswered.remove(c);
				record(c.name, describe(c.sent), outcome, got);
				if (unanswered.length == 0)
					finish("result", {t: "number", v: Std.string(calls.length)});
			});
		}
	}

	// Make each call alone, one after the other, each on its own connection.
	static function alone(calls:Array<Call>, headers:Array<Array<Dynamic>>, next:Void->Void) {
		if (calls.length == 0) {
			next();
			return;
		}
		var c = calls[0];
		var rest = calls.slice(1);
		var nc = connection(headers);
		var answered = false;
		function done(outcome:String, got:Dynamic) {
			if (answered) return;
			answered = true;
			record(c.name, describe(c.sent), outcome, got);
			alone(rest, headers, next);
		}
		nc.addEventListener(NetStatusEvent.NET_STATUS, function(e:NetStatusEvent) {
			if (e.info.code == "NetConnection.Call.Failed")
				done("callfailed", describe(e.info));
		});
		issue(nc, c, done);
	}

	static function issue(nc:NetConnection, c:Call, done:String->Dynamic->Void) {
		pending++;
		function answer(outcome:String, value:Dynamic) {
			pending--;
			done(outcome, describe(value));
		}
		var responder = new Responder(function(result:Dynamic) answer("result", result), function(fault:Dynamic) answer("fault", fault));
		var callArgs:Array<Dynamic> = [c.method, responder];
		for (a in c.args)
			callArgs.push(a);
		Reflect.callMethod(nc, Reflect.field(nc, "call"), callArgs);
	}

	static function echoCall(name:String, value:Dynamic):Call {
		return {name: name, method: "e2e.echo", sent: value, args: [name, value]};
	}

	static function battery() {
		note("phase battery");
		batch("battery", [for (pair in values()) echoCall(pair[0], pair[1])], null, batched);
	}

	static function batched() {
		note("phase batched");
		batch("batched", [for (n in ["batched.1", "batched.2", "batched.3"]) {name: n, method: "e2e.batchSize", sent: 3, args: [n]}], null, faults);
	}

	static function faults() {
		note("phase faults");
		batch(null, [
			{name: "fault.raised", method: "e2e.fail", sent: "boom \u00e9", args: ["boom \u00e9"]},
			{name: "fault.unknown_method", method: "e2e.nope", sent: null, args: []},
			{name: "fault.unknown_service", method: "nope.echo", sent: null, args: []},
		], null, secure);
	}

	static function secure() {
		note("phase secure");
		var secret:Call = {name: "secure.no_credentials", method: "e2e.secret", sent: null, args: []};
		var steps:Array<Array<Dynamic>> = [
			[null, "secure.no_credentials"],
			[[["Credentials", false, {userid: "correct", password: "correct"}]], "secure.credentials"],
			[[["Credentials", false, {userid: "correct", password: "wrong"}]], "secure.wrong_password"],
		];
		function step(i:Int) {
			if (i == steps.length) {
				headersPhase();
				return;
			}
			batch(null, [{name: steps[i][1], method: "e2e.secret", sent: null, args: []}], steps[i][0], function() step(i + 1));
		}
		step(0);
	}

	static function headersPhase() {
		note("phase headers");
		batch(null, [echoCall("header.unknown_required", "x")], [["X-Unknown-Required", true, 1]], function() {
			batch(null, [echoCall("header.unknown_optional", "x")], [["X-Unknown-Optional", false, 1]], misc);
		});
	}

	static function misc() {
		note("phase misc");
		batch(null, [
			{name: "call.several_args", method: "e2e.echoArgs", sent: [1, "two", null, true], args: ["call.several_args", 1, "two", null, true]},
			{name: "call.no_args", method: "e2e.serverTime", sent: null, args: []},
		], null, replies);
	}

	// What the server's encoder sends (e2e.sample(kind)): read by Ruffle's decoder.
	static function replies() {
		note("phase replies");
		batch("replies", [for (kind in SAMPLES) {name: "reply." + kind, method: "e2e.sample", sent: null, args: [kind]}], null, report);
	}

	static var SAMPLES = [
		"int_small", "int_amf3_max", "int_amf3_over", "int_big", "int_negative", "float", "float_neg_zero",
		"float_nan", "float_inf", "decimal", "bool", "none", "string_unicode", "string_long", "list", "tuple",
		"set", "dict", "dict_int_keys", "datetime_naive", "datetime_aware", "date", "xml_minidom", "xml_etree",
		"bytes", "shared_list", "point", "typed_unmapped", "vector_int", "vector_double", "vector_object",
		"dictionary"
	];

	// ------------------------------------------------------------------ values

	static function values():Array<Array<Dynamic>> {
		var v:Array<Array<Dynamic>> = [];
		function add(name:String, value:Dynamic) v.push([name, value]);

		add("number.zero", 0);
		add("number.int", 42);
		add("number.negative", -7);
		add("number.int_max", 2147483647);
		add("number.int_min", -2147483648.0);
		add("number.uint_max", 4294967295.0);
		add("number.float", 3.5);
		add("number.tenth", 0.1);
		add("number.pow53", 9007199254740992.0);
		add("number.large", 1e300);
		add("number.tiny", 5e-324);
		add("number.neg_zero", -0.0 * 1.0);
		add("number.nan", Math.NaN);
		add("number.inf", Math.POSITIVE_INFINITY);
		add("number.neg_inf", Math.NEGATIVE_INFINITY);
		add("boolean.true", true);
		add("boolean.false", false);
		add("string.empty", "");
		add("string.ascii", "hello");
		add("string.bmp", "h\u00e9llo \u4e16\u754c");
		add("string.astral", "smile \u{1F600}");
		add("string.nul", "a\u0000b");
		add("string.controls", "tab\tnl\ncr\r");
		add("string.long", repeat("abcdefghij", 7000)); // 70000 bytes: AMF0 long string
		add("string.long_unicode", repeat("\u00e9", 40000)); // 80000 UTF-8 bytes
		add("string.max_short", repeat("x", 65535)); // the largest short string
		add("null", null);
		add("undefined", untyped __global__["undefined"]);
		add("object.empty", {});
		add("object.flat", {a: 1, b: "x", c: true, d: null});
		add("object.nested", {a: 1, b: "x", nested: [1, 2], inner: {deep: {deeper: "y"}}});
		var keys:Dynamic = {};
		Reflect.setField(keys, "", "empty key");
		Reflect.setField(keys, "\u00e9t\u00e9", "unicode key");
		Reflect.setField(keys, "1", "numeric key");
		Reflect.setField(keys, "with space", 2);
		add("object.odd_keys", keys);
		add("array.empty", []);
		add("array.dense", [1, "two", 3.25]);
		add("array.nested", [[1, 2], [], [[3]]]);
		add("array.of_objects", [{a: 1}, {b: 2}]);
		var sparse:Array<Dynamic> = [];
		sparse[0] = "first";
		sparse[5] = "sixth";
		add("array.sparse", sparse);
		var assoc:Array<Dynamic> = [];
		untyped assoc["name"] = "value";
		untyped assoc["other"] = 2;
		add("array.assoc", assoc);
		var mixed:Array<Dynamic> = [1, 2];
		untyped mixed["label"] = "mixed";
		add("array.mixed", mixed);
		var shared = {s: "shared"};
		add("reference.same_object_twice", [shared, shared]);
		var sharedArray = [1, 2];
		add("reference.same_array_twice", {first: sharedArray, second: sharedArray});
		// No cyclic value: Ruffle 0.6 serializes by recursion without references and
		// overflows its stack on a cycle, which kills the player.
		add("date.epoch", Date.fromTime(0));
		add("date.millis", Date.fromTime(1577934245678.0));
		add("date.before_epoch", Date.fromTime(-1000000000000.0));
		// No flash.xml.XMLDocument: Ruffle 0.6 serializes it as a plain object graph, whose
		// parentNode links are a cycle (see reference.* above).
		add("xml.e4x", new flash.xml.XML("<root a=\"1\"><child>text \u00e9</child></root>"));
		add("typed.registered", new Point(1.5, -2));
		add("typed.unregistered", new Unregistered("plain"));
		var bytes = new ByteArray();
		for (b in [0, 1, 2, 127, 128, 255])
			bytes.writeByte(b);
		add("bytearray", bytes);
		var vec = new flash.Vector<Int>();
		vec.push(1);
		vec.push(-2);
		add("vector.int", vec);
		return v;
	}

	static function repeat(s:String, n:Int):String {
		var b = new StringBuf();
		for (i in 0...n)
			b.add(s);
		return b.toString();
	}

	// ------------------------------------------------------------------ describe

	static function className(v:Dynamic):String {
		return untyped __global__["flash.utils.getQualifiedClassName"](v);
	}

	static function num(n:Float):String {
		if (Math.isNaN(n)) return "NaN";
		if (n == 0 && 1 / n < 0) return "-0";
		return untyped String(n);
	}

	static function isIndex(k:String):Bool {
		var n = Std.parseInt(k);
		return n != null && n >= 0 && Std.string(n) == k;
	}

	// A JSON-safe description of an ActionScript value: {"t": type, "v": value, ...}.
	// Objects and arrays met again (shared or cyclic) become {"t": "ref", "i": n}.
	static function describe(v:Dynamic, ?seen:Array<Dynamic>):Dynamic {
		if (seen == null) seen = [];
		var cls = className(v);
		switch (cls) {
			case "void":
				return {t: "undefined"};
			case "null":
				return {t: "null"};
			case "Boolean":
				return {t: "boolean", v: v};
			case "int" | "uint" | "Number":
				return {t: "number", v: num(v)};
			case "String":
				return {t: "string", v: v};
			case "Date":
				return {t: "date", v: num(untyped v.getTime())};
			case "XML":
				return {t: "xml", v: untyped v.toXMLString()};
			case "flash.xml::XMLDocument":
				return {t: "xmldocument", v: untyped v.toString()};
			case "flash.utils::ByteArray":
				var b:ByteArray = v;
				var hex = new StringBuf();
				for (i in 0...b.length)
					hex.add(StringTools.hex(b[i], 2).toLowerCase());
				return {t: "bytearray", v: hex.toString()};
			default:
		}
		for (i in 0...seen.length)
			if (seen[i] == v)
				return {t: "ref", i: i};
		seen.push(v);
		if (cls == "Array") {
			var arr:Array<Dynamic> = v;
			var elems:Array<Dynamic> = [];
			for (i in 0...arr.length)
				elems.push(untyped arr.hasOwnProperty(i) ? describe(arr[i], seen) : {t: "hole"});
			var out:Dynamic = {t: "array", v: elems};
			var extra = members(v, seen, true);
			if (Reflect.fields(extra).length > 0)
				out.extra = extra;
			return out;
		}
		if (cls.indexOf("__AS3__.vec::Vector") == 0) {
			var elems:Array<Dynamic> = [];
			for (i in 0...(untyped v.length))
				elems.push(describe(untyped v[i], seen));
			return {t: "vector", "class": cls, v: elems};
		}
		var out:Dynamic = {t: "object", v: members(v, seen, false)};
		if (cls != "Object") {
			out.className = cls;
			// Sealed members are not enumerable: name the ones our classes have.
			for (name in ["x", "y", "label"])
				if (untyped v.hasOwnProperty(name))
					Reflect.setField(out.v, name, describe(Reflect.field(v, name), seen));
		}
		return out;
	}

	static function members(v:Dynamic, seen:Array<Dynamic>, skipIndexes:Bool):Dynamic {
		var out:Dynamic = {};
		var keys:Array<String> = untyped __keys__(v);
		keys.sort(function(a, b) return a < b ? -1 : (a > b ? 1 : 0));
		for (k in keys) {
			if (skipIndexes && isIndex(k)) continue;
			Reflect.setField(out, k, describe(Reflect.field(v, k), seen));
		}
		return out;
	}

	// ------------------------------------------------------------------ reporting

	static function note(line:String) {
		trace(line);
		notes.push(line);
		post(logUrl, line, "text/plain");
	}

	static function report() {
		if (reported) return;
		reported = true;
		var body = haxe.Json.stringify({client: "haxe", player: flash.system.Capabilities.version, items: items, notes: notes});
		post(reportUrl, body, "application/json");
		trace("report sent: " + items.length + " items");
	}

	static function post(url:String, body:String, contentType:String) {
		var request = new URLRequest(url);
		request.method = URLRequestMethod.POST;
		request.contentType = contentType;
		request.data = body;
		var loader = new URLLoader();
		loader.addEventListener(IOErrorEvent.IO_ERROR, function(e:Event) trace("post failed: " + e));
		loader.load(request);
	}
}
