package e2e
{
    import mx.messaging.ChannelSet;
    import mx.messaging.channels.AMFChannel;
    import mx.rpc.AsyncToken;
    import mx.rpc.Responder;
    import mx.rpc.events.FaultEvent;
    import mx.rpc.events.ResultEvent;
    import mx.rpc.remoting.RemoteObject;

    import org.apache.royale.reflection.getQualifiedClassName;
    import org.apache.royale.reflection.registerClassAlias;

    /**
     * examples/django_project through its Django channel: save a note before logging in
     * (refused), log in as a Django user (ChannelSet.login), save a new note (a DjNote),
     * load it back with its author (a DjUser, without a password hash), change it, save it
     * again and reload it.  Items "django.*".
     */
    public class DjangoItem
    {
        public static const USER:String = "royale";
        public static const PASSWORD:String = "royale-password";

        private var cs:ChannelSet;
        private var ro:RemoteObject;
        private var record:Function;
        private var describe:Function;
        private var note:Function;

        /** record(name, sent, outcome, got), describe(value) and note(line) are Main's. */
        public function DjangoItem(gateway:String, record:Function, describe:Function,
                                   note:Function)
        {
            registerClassAlias("notes.Note", DjNote);
            registerClassAlias("notes.User", DjUser);
            cs = new ChannelSet();
            cs.addChannel(new AMFChannel("django", gateway));
            ro = new RemoteObject("NoteService");
            ro.channelSet = cs;
            ro.makeObjectsBindable = false;
            this.record = record;
            this.describe = describe;
            this.note = note;
        }

        public function run(next:Function):void
        {
            note("phase django");
            var fresh:DjNote = new DjNote();
            fresh.title = "from royale";
            fresh.body = "saved by the Royale client";
            call("django.save_before_login", function():AsyncToken {
                return ro.getOperation("save").send(fresh);
            }, next, null, function(r:Object):void {
            call("django.login", function():AsyncToken {
                return cs.login(USER, PASSWORD);
            }, next, function(r:Object):Object { return "logged in"; }, function(r:Object):void {
            call("django.whoami", function():AsyncToken {
                return ro.getOperation("whoami").send();
            }, next, null, function(r:Object):void {
            call("django.save", function():AsyncToken {
                return ro.getOperation("save").send(fresh);
            }, next, function(id:Object):Object { return id > 0; }, function(id:Object):void {
            call("django.load", function():AsyncToken {
                return ro.getOperation("load").send(id);
            }, next, noteSummary, function(loaded:DjNote):void {
                loaded.title = "changed by royale";
            call("django.update", function():AsyncToken {
                return ro.getOperation("save").send(loaded);
            }, next, function(again:Object):Object { return again == id; }, function(r:Object):void {
            call("django.reload", function():AsyncToken {
                return ro.getOperation("load").send(id);
            }, next, noteSummary, function(r:Object):void {
                cs.logout();
                next();
            }); }); }); }); }); }); });
        }

        /**
         * Make a call and record the item: its outcome and summary(result) (the result
         * itself without a summary).  On a result then(result), on a fault too (the next
         * call shows what the fault changed); an error ends the phase.
         */
        private function call(name:String, send:Function, next:Function, summary:Function,
                              then:Function):void
        {
            var token:AsyncToken = send();
            token.addResponder(new mx.rpc.Responder(
                function(event:ResultEvent):void {
                    var got:Object;
                    try
                    {
                        got = summary == null ? event.result : summary(event.result);
                    }
                    catch (e:Error)
                    {
                        record(name, null, "error", describe(String(e)));
                        next();
                        return;
                    }
                    record(name, null, "result", describe(got));
                    then(event.result);
                },
                function(event:FaultEvent):void {
                    record(name, null, "fault", describe({"faultCode": event.fault.faultCode,
                                                          "faultString": event.fault.faultString}));
                    then(null);
                }));
        }

        private static function noteSummary(loaded:Object):Object
        {
            var author:Object = loaded.author;
            return {"class": getQualifiedClassName(loaded), "title": loaded.title,
                    "body": loaded.body, "author_class": getQualifiedClassName(author),
                    "author": author.username, "no_password": author["password"] === undefined,
                    "same_author": author.id == loaded.author_id};
        }
    }
}
