package
{
    // amfast's end-to-end Flex client, compiled to JavaScript by Apache Royale 0.9.12.
    //
    // It runs in the browser at /royale/index.html (same origin as the server) and POSTs a
    // JSON report of every item to /report?client=royale: what it sent, how the call ended
    // ("result", "fault" or "callfailed") and what came back, each value described by
    // describe() exactly as the Haxe client does (see tests/e2e/expect.py).
    //
    // Phases, one after the other:
    //   nc        AMFNetConnection (AMF3) calls of e2e.echo(name, value): a battery of AMF3
    //             values, typed objects (registerClassAlias), ByteArray, references
    //   ncmisc    several arguments, faults (errorClass), values the server encodes
    //   ro        mx.rpc.remoting.RemoteObject over an AMFChannel: echo, faults
    //   login     ChannelSet.login with a wrong and a right password, a secure operation
    //             before, during and after the login, logout
    //   codegen   the classes amfast.codegen wrote, round-tripped (e2e/Codegen.as)
    //   messaging Consumer/Producer on a polling and on a long-polling AMFChannel, with
    //             subtopics; the server's ping ack negotiates small messages
    //   addressbook  examples/addressbook's typed objects: load, edit, save (e2e/AddressBookItem.as)
    //   django    examples/django_project's Django channel: log in as a Django user, save,
    //             load and save again a model object (e2e/DjangoItem.as)

    import e2e.Codegen;
    import e2e.AddressBookItem;
    import e2e.DjangoItem;
    import e2e.ConsoleFeed;
    import e2e.NcError;
    import e2e.Person;
    import e2e.Plain;
    import e2e.Tagged;

    import mx.collections.ArrayCollection;
    import mx.messaging.ChannelSet;
    import mx.messaging.Consumer;
    import mx.messaging.Producer;
    import mx.messaging.channels.AMFChannel;
    import mx.messaging.events.ChannelFaultEvent;
    import mx.messaging.events.MessageAckEvent;
    import mx.messaging.events.MessageEvent;
    import mx.messaging.events.MessageFaultEvent;
    import mx.messaging.messages.AcknowledgeMessage;
    import mx.messaging.messages.AcknowledgeMessageExt;
    import mx.messaging.messages.AsyncMessage;
    import mx.messaging.messages.AsyncMessageExt;
    import mx.messaging.messages.CommandMessage;
    import mx.messaging.messages.CommandMessageExt;
    import mx.messaging.messages.ErrorMessage;
    import mx.messaging.messages.RemotingMessage;
    import mx.rpc.AsyncToken;
    import mx.rpc.Responder;
    import mx.rpc.events.FaultEvent;
    import mx.rpc.events.ResultEvent;
    import mx.rpc.remoting.RemoteObject;
    import mx.utils.ObjectProxy;

    import org.apache.royale.net.Responder;
    import org.apache.royale.net.remoting.amf.AMFBinaryData;
    import org.apache.royale.net.remoting.amf.AMFNetConnection;
    import org.apache.royale.reflection.getQualifiedClassName;
    import org.apache.royale.reflection.registerClassAlias;
    import org.apache.royale.utils.BinaryData;
    import org.apache.royale.utils.Language;

    public class Main
    {
        private static const CLIENT:String = "royale";
        private static const TOPIC:String = "e2e-chat";

        private var origin:String;
        private var items:Array = [];
        private var notes:Array = [];
        private var reported:Boolean = false;

        public function start():void
        {
            origin = window.location.origin;
            registerClassAlias("e2e.Person", Person);
            registerClassAlias("e2e.Tagged", Tagged);
            registerClassAlias("Error", NcError);
            // The Flex message classes and collections, as a Flex application registers them.
            registerClassAlias("flex.messaging.messages.CommandMessage", CommandMessage);
            registerClassAlias("flex.messaging.messages.AcknowledgeMessage", AcknowledgeMessage);
            registerClassAlias("flex.messaging.messages.AsyncMessage", AsyncMessage);
            registerClassAlias("flex.messaging.messages.RemotingMessage", RemotingMessage);
            registerClassAlias("flex.messaging.messages.ErrorMessage", ErrorMessage);
            registerClassAlias("DSK", AcknowledgeMessageExt);
            registerClassAlias("DSA", AsyncMessageExt);
            registerClassAlias("DSC", CommandMessageExt);
            registerClassAlias("flex.messaging.io.ArrayCollection", ArrayCollection);
            registerClassAlias("flex.messaging.io.ObjectProxy", ObjectProxy);
            if (ConsoleFeed.wanted())
            {
                new ConsoleFeed(origin).start(); // the console's test watches this client
                return;
            }
            note("royale client started at " + origin);
            setTimeout(function():void {
                note("timed out");
                report();
            }, 90000);
            run([ncBattery, ncMisc, ncReplies, roPhase, login,
                 function(next:Function):void { new Codegen(gateway("/amf"), record, describe).run(next); },
                 function(next:Function):void { messaging("polling", "/amf", 200, next); },
                 function(next:Function):void { messaging("longpoll", "/amf-longpoll", 0, next); },
                 function(next:Function):void {
                     new AddressBookItem(gateway("/amf"), record, describe, note).run(next);
                 },
                 function(next:Function):void {
                     new DjangoItem(gateway("/django/amf"), record, describe, note).run(next);
                 }]);
        }

        // ------------------------------------------------------------------ plumbing

        /** Run each step(next) in turn, then report; a step that throws is noted and skipped. */
        private function run(steps:Array):void
        {
            if (steps.length == 0)
            {
                report();
                return;
            }
            var step:Function = steps.shift();
            var done:Boolean = false;
            var next:Function = function():void {
                if (done) return;
                done = true;
                setTimeout(function():void { run(steps); }, 0);
            };
            try
            {
                step(next);
            }
            catch (e:Error)
            {
                note("step failed: " + e + "\n" + e["stack"]);
                next();
            }
        }

        private function record(name:String, sent:Object, outcome:String, got:Object):void
        {
            items.push({"name": name, "sent": sent, "outcome": outcome, "got": got});
        }

        private function gateway(path:String, client:String = null):String
        {
            return origin + path + "?client=" + (client || CLIENT);
        }

        private function note(line:String):void
        {
            console.log("[e2e] " + line);
            notes.push(line);
            post("/log?client=" + CLIENT, line, "text/plain");
        }

        private function report():void
        {
            if (reported) return;
            reported = true;
            post("/report?client=" + CLIENT,
                 JSON.stringify({"client": CLIENT, "player": "Apache Royale 0.9.12 (JS)",
                                 "userAgent": window.navigator.userAgent, "items": items, "notes": notes}),
                 "application/json");
            console.log("[e2e] report sent: " + items.length + " items");
        }

        private function post(path:String, body:String, contentType:String):void
        {
            var xhr:XMLHttpRequest = new XMLHttpRequest();
            xhr.open("POST", origin + path, true);
            xhr.setRequestHeader("Content-Type", contentType);
            xhr.send(body);
        }

        // ------------------------------------------------------------------ NetConnection

        /** Make every call at once on one AMFNetConnection; then next(). */
        private function ncCalls(calls:Array, next:Function):void
        {
            var nc:AMFNetConnection = new AMFNetConnection();
            nc.errorClass = NcError;
            nc.connect(gateway("/amf"));
            var left:int = calls.length;
            if (left == 0) next();
            for each (var c:Object in calls)
                ncCall(nc, c, function():void {
                    if (--left == 0) next();
                });
        }

        private function ncCall(nc:AMFNetConnection, c:Object, done:Function):void
        {
            var sent:Object = describe(c["sent"]);
            var answered:Boolean = false;
            var answer:Function = function(outcome:String, value:*):void {
                if (answered)
                {
                    note(c["name"] + ": answered twice");
                    return;
                }
                answered = true;
                record(c["name"], sent, outcome, describe(value));
                done();
            };
            var responder:org.apache.royale.net.Responder = new org.apache.royale.net.Responder(
                function(result:*):void { answer("result", result); },
                function(fault:*):void {
                    // Transport failures come as {"code": -100x, message, detail}.
                    var transport:Boolean = fault != null && !(fault is NcError) && fault["code"] is Number
                                            && fault["code"] < -1000;
                    answer(transport ? "callfailed" : "fault", fault);
                });
            var args:Array = [c["method"], responder].concat(c["args"]);
            nc.call.apply(nc, args);
        }

        private function echo(name:String, value:*):Object
        {
            return {"name": name, "method": "e2e.echo", "sent": value, "args": [name, value]};
        }

        private function ncBattery(next:Function):void
        {
            note("phase nc");
            var calls:Array = [];
            var values:Array = batteryValues();
            for each (var pair:Array in values)
                calls.push(echo("nc." + pair[0], pair[1]));
            ncCalls(calls, next);
        }

        private function batteryValues():Array
        {
            var v:Array = [];
            var add:Function = function(name:String, value:*):void { v.push([name, value]); };

            add("undefined", undefined);
            add("null", null);
            add("boolean.true", true);
            add("boolean.false", false);
            add("int.zero", 0);
            add("int.one", 1);
            add("int.minus_one", -1);
            add("int.max29", 268435455);
            add("int.min29", -268435456);
            add("int.over29", 268435456);
            add("int.under29", -268435457);
            add("int.max32", 2147483647);
            add("int.over32", 2147483648);
            add("number.neg_zero", -0);
            add("number.float", 3.5);
            add("number.tenth", 0.1);
            add("number.pow53", 9007199254740992);
            add("number.large", 1e300);
            add("number.tiny", 5e-324);
            add("number.nan", NaN);
            add("number.inf", Infinity);
            add("number.neg_inf", -Infinity);
            add("string.empty", "");
            add("string.ascii", "hello");
            add("string.bmp", "h\u00e9llo \u4e16\u754c");
            add("string.astral", "smile \uD83D\uDE00");
            add("string.nul", "a\u0000b");
            add("string.long", repeat("abcdefghij", 7000));
            add("string.same_twice", ["dup", "dup", "dup"]);
            add("date.epoch", new Date(0));
            add("date.millis", new Date(1577934245678));
            add("date.before_epoch", new Date(-1000000000000));
            var d:Date = new Date(86400000);
            add("date.same_twice", [d, d]);
            add("array.empty", []);
            add("array.dense", [1, "two", 3.25]);
            add("array.nested", [[1, 2], [], [[3]]]);
            var sparse:Array = [];
            sparse[0] = "first";
            sparse[5] = "sixth";
            add("array.sparse", sparse);
            var assoc:Array = [];
            assoc["name"] = "value";
            assoc["other"] = 2;
            add("array.assoc", assoc);
            var mixed:Array = [1, 2];
            mixed["label"] = "mixed";
            add("array.mixed", mixed);
            add("object.empty", {});
            add("object.flat", {"a": 1, "b": "x", "c": true, "d": null});
            add("object.nested", {"a": 1, "b": "x", "nested": [1, 2], "inner": {"deep": {"deeper": "y"}}});
            var odd:Object = {};
            odd["\u00e9t\u00e9"] = "unicode key";
            odd["1"] = "numeric key";
            odd["with space"] = 2;
            // No "" key: AMF3 ends an object's dynamic members with an empty name, so
            // Royale's writer would end the object there and leave the rest as garbage.
            add("object.odd_keys", odd);
            add("object.same_traits", [{"a": 1, "b": 2}, {"a": 3, "b": 4}]);
            var shared:Object = {"s": "shared"};
            add("reference.same_object_twice", [shared, shared]);
            var cyclic:Object = {"name": "cyclic"};
            cyclic["self"] = cyclic;
            add("reference.cycle", cyclic);
            var loop:Array = ["loop"];
            loop.push(loop);
            add("reference.array_cycle", loop);
            add("typed.person", new Person("Ann", 41, ["a", "b"]));
            add("typed.person_nulls", new Person());
            add("typed.two_persons", [new Person("A", 1, []), new Person("B", 2, ["x"])]);
            var t:Tagged = new Tagged("k");
            t["extra"] = "dyn";
            t["count"] = 3;
            add("typed.dynamic", t);
            add("typed.unregistered", new Plain("plain"));
            var bytes:BinaryData = new BinaryData();
            for each (var byte:int in [0, 1, 2, 127, 128, 255])
                bytes.writeByte(byte);
            add("bytearray", bytes);
            add("bytearray.empty", new BinaryData());
            add("bytearray.same_twice", [bytes, bytes]);
            add("arraycollection", new ArrayCollection([1, "two", {"three": 3}]));
            add("xml", new XML("<root a=\"1\"><child>text \u00e9</child></root>"));
            add("xml.ascii", new XML("<root a=\"1\"><child>text</child></root>"));
            var ints:Vector.<int> = new Vector.<int>();
            ints.push(1);
            ints.push(-2);
            add("vector.int", ints);
            var strings:Vector.<String> = new Vector.<String>();
            strings.push("a");
            strings.push("b");
            add("vector.string", strings);
            add("function", function():void {});
            return v;
        }

        private function ncMisc(next:Function):void
        {
            note("phase ncmisc");
            ncCalls([
                {"name": "nc.call.several_args", "method": "e2e.echoArgs", "sent": [1, "two", null, true],
                 "args": ["nc.call.several_args", 1, "two", null, true]},
                {"name": "nc.call.no_args", "method": "e2e.serverTime", "sent": null, "args": []},
                {"name": "nc.fault.raised", "method": "e2e.fail", "sent": "boom \u00e9", "args": ["boom \u00e9"]},
                {"name": "nc.fault.unknown_method", "method": "e2e.nope", "sent": null, "args": []},
                {"name": "nc.fault.unknown_service", "method": "nope.echo", "sent": null, "args": []},
                {"name": "nc.secure.no_credentials", "method": "e2e.secret", "sent": null, "args": []}
            ], next);
        }

        private static const SAMPLES:Array = [
            "int_small", "int_amf3_max", "int_amf3_over", "int_big", "int_negative", "float",
            "float_neg_zero", "float_nan", "float_inf", "decimal", "bool", "none", "string_unicode",
            "string_long", "list", "tuple", "set", "dict", "dict_int_keys", "datetime_naive",
            "datetime_aware", "date", "xml_minidom", "xml_etree", "bytes", "shared_list", "point",
            "person", "tagged", "typed_unmapped", "vector_int", "vector_double", "vector_object"
            // No "dictionary": Royale 0.9.12 reads the AMF3 Dictionary marker 0x11 as the AMF0
            // switch to AMF3 and returns garbage.
        ];

        private function ncReplies(next:Function):void
        {
            note("phase ncreplies");
            var calls:Array = [];
            for each (var kind:String in SAMPLES)
                calls.push({"name": "nc.reply." + kind, "method": "e2e.sample", "sent": null, "args": [kind]});
            ncCalls(calls, next);
        }

        // ------------------------------------------------------------------ RemoteObject

        private function channelSet(id:String, path:String, client:String, pollingInterval:int = -1):ChannelSet
        {
            var channel:AMFChannel = new AMFChannel(id, gateway(path, client));
            if (pollingInterval >= 0)
            {
                channel.pollingEnabled = true;
                channel.pollingInterval = pollingInterval;
            }
            var cs:ChannelSet = new ChannelSet();
            cs.addChannel(channel);
            return cs;
        }

        private function makeRemoteObject(cs:ChannelSet):RemoteObject
        {
            var ro:RemoteObject = new RemoteObject("e2e");
            ro.channelSet = cs;
            ro.makeObjectsBindable = false; // results as sent, not wrapped in ArrayCollection/ObjectProxy
            return ro;
        }

        /** One RemoteObject operation call (or any AsyncToken); records it; then done(). */
        private function roCall(name:String, sent:*, token:AsyncToken, done:Function):void
        {
            var sentDescription:Object = describe(sent);
            var answered:Boolean = false;
            token.addResponder(new mx.rpc.Responder(
                function(event:ResultEvent):void {
                    if (answered) return;
                    answered = true;
                    record(name, sentDescription, "result", describe(event.result));
                    done();
                },
                function(event:FaultEvent):void {
                    if (answered) return;
                    answered = true;
                    record(name, sentDescription, "fault", describeFault(event));
                    done();
                }));
        }

        private function describeFault(event:FaultEvent):Object
        {
            var fault:Object = {"faultCode": event.fault.faultCode, "faultString": event.fault.faultString};
            return describe(fault);
        }

        /** Each of calls: [name, sent, function():AsyncToken], made one after the other. */
        private function sequence(calls:Array, next:Function):void
        {
            if (calls.length == 0)
            {
                next();
                return;
            }
            var c:Array = calls.shift();
            var token:AsyncToken;
            try
            {
                token = c[2]();
            }
            catch (e:Error)
            {
                record(c[0], describe(c[1]), "error", describe(String(e)));
                sequence(calls, next);
                return;
            }
            roCall(c[0], c[1], token, function():void { sequence(calls, next); });
        }

        private function remoteObject_echo(ro:RemoteObject, name:String, value:*):Array
        {
            return [name, value, function():AsyncToken { return ro.getOperation("echo").send(name, value); }];
        }

        private function roPhase(next:Function):void
        {
            note("phase ro");
            var ro:RemoteObject = makeRemoteObject(channelSet("ro", "/amf", CLIENT));
            var person:Person = new Person("Ann", 41, ["a", "b"]);
            var t:Tagged = new Tagged("k");
            t["extra"] = "dyn";
            sequence([
                remoteObject_echo(ro, "ro.string", "hello \u00e9"),
                remoteObject_echo(ro, "ro.number", 3.5),
                remoteObject_echo(ro, "ro.object", {"a": 1, "nested": {"b": [1, 2]}}),
                remoteObject_echo(ro, "ro.array", [1, "two", null]),
                remoteObject_echo(ro, "ro.date", new Date(1577934245678)),
                remoteObject_echo(ro, "ro.person", person),
                remoteObject_echo(ro, "ro.dynamic", t),
                remoteObject_echo(ro, "ro.arraycollection", new ArrayCollection(["x", "y"])),
                ["ro.several_args", [1, "two"], function():AsyncToken {
                    return ro.getOperation("echoArgs").send("ro.several_args", 1, "two");
                }],
                ["ro.sample.person", null, function():AsyncToken {
                    return ro.getOperation("sample").send("person");
                }],
                ["ro.sample.bytes", null, function():AsyncToken {
                    return ro.getOperation("sample").send("bytes");
                }],
                ["ro.fault.raised", "boom \u00e9", function():AsyncToken {
                    return ro.getOperation("fail").send("boom \u00e9");
                }],
                ["ro.fault.unknown_operation", null, function():AsyncToken {
                    return ro.getOperation("nope").send();
                }],
                ["ro.fault.unknown_destination", null, function():AsyncToken {
                    var other:RemoteObject = makeRemoteObject(channelSet("ro2", "/amf", CLIENT));
                    other.destination = "nope";
                    return other.getOperation("echo").send("x");
                }]
            ], next);
        }

        // ------------------------------------------------------------------ login

        private function login(next:Function):void
        {
            note("phase login");
            var cs:ChannelSet = channelSet("login", "/amf", CLIENT);
            var ro:RemoteObject = makeRemoteObject(cs);
            var op:Function = function(name:String):Function {
                return function():AsyncToken { return ro.getOperation(name).send(); };
            };
            sequence([
                // A first call connects the channel (ping); login needs a connected channel set.
                ["login.secret_before", null, op("secret")],
                ["login.wrong_password", null, function():AsyncToken { return cs.login("correct", "wrong"); }],
                ["login.secret_after_wrong", null, op("secret")],
                ["login.right_password", null, function():AsyncToken { return cs.login("correct", "correct"); }],
                ["login.secret", null, op("secret")],
                ["login.whoami", null, op("whoami")],
                ["login.logout", null, function():AsyncToken { return cs.logout(); }],
                ["login.secret_after_logout", null, op("secret")]
            ], next);
        }

        // ------------------------------------------------------------------ messaging

        /**
         * A Consumer on subtopic room-KIND and one on other-KIND, a Producer publishing to
         * each, and a message published by server code to room-KIND; every agent on one
         * channel set (polling: a poll every pollingInterval ms; long-polling: 0, each poll
         * held by the server until a message comes).
         */
        private function messaging(kind:String, path:String, pollingInterval:int, next:Function):void
        {
            note("phase messaging " + kind);
            var prefix:String = "msg." + kind + ".";
            var cs:ChannelSet = channelSet(kind, path, CLIENT + "-" + kind, pollingInterval);
            cs.addEventListener(ChannelFaultEvent.FAULT, function(e:ChannelFaultEvent):void {
                note(kind + " channel fault: " + e.faultCode + " " + e.faultString + " " + e.faultDetail);
            });
            var room:String = "room-" + kind;
            var other:String = "other-" + kind;
            var roomMessages:Array = [];
            var otherMessages:Array = [];
            var consumer:Consumer = consumerOn(cs, room, roomMessages);
            var otherConsumer:Consumer = consumerOn(cs, other, otherMessages);
            var producer:Producer = new Producer();
            producer.channelSet = cs;
            producer.destination = TOPIC;
            var finished:Boolean = false;
            var finish:Function = function():void {
                if (finished) return;
                finished = true;
                record(prefix + "received", null, "result", describe(roomMessages));
                record(prefix + "other_received", null, "result", describe(otherMessages));
                var unsubscribed:int = 0;
                var ended:Function = function():void {
                    if (++unsubscribed < 2) return;
                    consumer.disconnect();
                    otherConsumer.disconnect();
                    producer.disconnect();
                    cs.disconnectAll();
                    next();
                };
                agentCall(prefix + "unsubscribe", consumer, function():void { consumer.unsubscribe(); }, ended);
                agentCall(prefix + "other_unsubscribe", otherConsumer,
                          function():void { otherConsumer.unsubscribe(); }, ended);
            };
            // Messages arrive: [producer to room, server to room] and [producer to other].
            var check:Function = function():void {
                if (roomMessages.length >= 2 && otherMessages.length >= 1)
                    setTimeout(finish, 300); // time for a wrongly routed message to show up too
            };
            consumer.addEventListener(MessageEvent.MESSAGE, function(e:MessageEvent):void { check(); });
            otherConsumer.addEventListener(MessageEvent.MESSAGE, function(e:MessageEvent):void { check(); });
            setTimeout(function():void {
                if (!finished) note(kind + ": gave up waiting for messages");
                finish();
            }, 15000);

            agentCall(prefix + "subscribe", consumer, function():void { consumer.subscribe(); }, function():void {
                agentCall(prefix + "other_subscribe", otherConsumer, function():void { otherConsumer.subscribe(); },
                          function():void {
                    var toRoom:AsyncMessage = new AsyncMessage({"text": "hello \u00e9", "n": 1, "when": new Date(0)});
                    producer.subtopic = room;
                    agentCall(prefix + "send", producer, function():void { producer.send(toRoom); }, function():void {
                        var toOther:AsyncMessage = new AsyncMessage({"text": "elsewhere"});
                        producer.subtopic = other;
                        agentCall(prefix + "send_other", producer, function():void { producer.send(toOther); },
                                  function():void {
                            var ro:RemoteObject = makeRemoteObject(cs);
                            roCall(prefix + "server_publish", null,
                                   ro.getOperation("publish").send(room, "from the server"), function():void {});
                        });
                    });
                });
            });
        }

        private function consumerOn(cs:ChannelSet, subtopic:String, received:Array):Consumer
        {
            var consumer:Consumer = new Consumer();
            consumer.channelSet = cs;
            consumer.destination = TOPIC;
            consumer.subtopic = subtopic;
            consumer.addEventListener(MessageEvent.MESSAGE, function(e:MessageEvent):void {
                var headers:Object = e.message.headers;
                received.push({"body": e.message.body, "destination": e.message.destination,
                               "subtopic": headers ? headers["DSSubtopic"] : undefined});
            });
            return consumer;
        }

        /** Do something on a Producer or Consumer; record its ack or fault as one item. */
        private function agentCall(name:String, agent:Object, action:Function, done:Function):void
        {
            var answered:Boolean = false;
            var onAck:Function;
            var onFault:Function;
            var finish:Function = function(outcome:String, got:Object):void {
                if (answered) return;
                answered = true;
                agent.removeEventListener(MessageAckEvent.ACKNOWLEDGE, onAck);
                agent.removeEventListener(MessageFaultEvent.FAULT, onFault);
                record(name, null, outcome, got);
                done();
            };
            onAck = function(e:MessageAckEvent):void {
                if (e.correlation is CommandMessage || e.correlation is AsyncMessage)
                    finish("result", describe({
                        "ackClass": getQualifiedClassName(e.message),
                        "correlation": getQualifiedClassName(e.correlation)}));
            };
            onFault = function(e:MessageFaultEvent):void {
                finish("fault", describe({"faultCode": e.faultCode, "faultString": e.faultString}));
            };
            agent.addEventListener(MessageAckEvent.ACKNOWLEDGE, onAck);
            agent.addEventListener(MessageFaultEvent.FAULT, onFault);
            setTimeout(function():void { finish("timeout", describe(null)); }, 10000);
            action();
        }

        // ------------------------------------------------------------------ describe

        private static function repeat(s:String, n:int):String
        {
            var parts:Array = [];
            for (var i:int = 0; i < n; i++)
                parts.push(s);
            return parts.join("");
        }

        private static function num(n:Number):String
        {
            if (isNaN(n)) return "NaN";
            if (n == 0 && 1 / n < 0) return "-0";
            return String(n);
        }

        private static function isIndex(k:String):Boolean
        {
            return String(parseInt(k, 10)) == k && parseInt(k, 10) >= 0;
        }

        /**
         * A JSON-safe description of a value: {"t": type, "v": value, ...} (see expect.py).
         * Objects met again (shared or cyclic) become {"t": "ref", "i": n}.
         */
        private function describe(v:*, seen:Array = null):Object
        {
            try
            {
                return describeValue(v, seen || []);
            }
            catch (e:Error)
            {
                note("describe failed: " + e + "\n" + e["stack"]);
                return {"t": "error", "v": String(e)};
            }
            return null;
        }

        private function describeValue(v:*, seen:Array):Object
        {
            if (v === undefined) return {"t": "undefined"};
            if (v === null) return {"t": "null"};
            var type:String = typeof v;
            if (type == "boolean") return {"t": "boolean", "v": v};
            if (type == "number") return {"t": "number", "v": num(v)};
            if (type == "string") return {"t": "string", "v": v};
            if (type == "function") return {"t": "function"};
            if (v is Date) return {"t": "date", "v": num((v as Date).getTime())};
            if (v is XML) return {"t": "xml", "v": (v as XML).toXMLString()};
            if (v is BinaryData)
            {
                var b:BinaryData = v as BinaryData;
                var hex:String = "";
                for (var i:int = 0; i < b.length; i++)
                {
                    var h:String = b.readByteAt(i).toString(16);
                    hex += h.length < 2 ? "0" + h : h;
                }
                return {"t": "bytearray", "v": hex};
            }
            for (i = 0; i < seen.length; i++)
                if (seen[i] === v)
                    return {"t": "ref", "i": i};
            seen.push(v);
            var cls:String = getQualifiedClassName(v);
            if (Array.isArray(v))
            {
                var arr:Object = v; // not "as Array": that throws for a Vector
                var elems:Array = [];
                var synth:Object = v[Language.SYNTH_TAG_FIELD];
                if (synth)
                {
                    var content:Object = synth["value"];
                    for (i = 0; i < content.length; i++)
                        elems.push(describe(content[i], seen));
                    return {"t": "vector", "class": String(synth["type"]), "v": elems};
                }
                for (i = 0; i < arr.length; i++)
                    elems.push(arr.hasOwnProperty(String(i)) ? describe(arr[i], seen) : {"t": "hole"});
                var out:Object = {"t": "array", "v": elems};
                var extra:Object = members(v, seen, true);
                for (var k:String in extra)
                {
                    out["extra"] = extra;
                    break;
                }
                return out;
            }
            // Own keys of a class instance are its dynamic members (Tagged) or, for other
            // classes, minified internals: only plain and dynamic objects list theirs.
            var own:Boolean = cls == "Object" || v is Tagged;
            var o:Object = {"t": "object", "v": own ? members(v, seen, false) : {}};
            if (cls != "Object")
            {
                o["className"] = cls;
                // Sealed members are not own enumerable properties: name those our classes have.
                for each (var name:String in ["name", "age", "tags", "kind", "label", "x", "y",
                                              "errorId", "message"])
                    if (name in v && !(name in o["v"]))
                        o["v"][name] = describe(v[name], seen);
                if (v is ArrayCollection)
                    o["v"]["source"] = describe((v as ArrayCollection).source, seen);
            }
            return o;
        }

        private function members(v:Object, seen:Array, skipIndexes:Boolean):Object
        {
            var out:Object = {};
            var keys:Array = Object.keys(v).sort();
            for each (var k:String in keys)
            {
                if (skipIndexes && isIndex(k)) continue;
                if (k == Language.SYNTH_TAG_FIELD || k.indexOf("royale") == 0) continue;
                var value:* = v[k];
                if (typeof value == "function") continue;
                out[k] = describe(value, seen);
            }
            return out;
        }
    }
}
